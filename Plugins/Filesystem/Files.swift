import Foundation
import NvisyPluginKit

#if canImport(Glibc)
import Glibc
#endif

/// `filesystem/files`: objects in and out of a local directory.
///
/// Source: every regular file under `root` (optionally under `prefix` and matching
/// `glob`), in byte order of its relative path; the resume token is that path.
/// Sink: writes each item's payload to `root/<metadata.path>` atomically
/// (temp file + rename), so a resent batch overwrites with the same bytes.
public final class Files: SourceProvider, SinkProvider {
    public struct Config: Decodable, Sendable {
        var root: String
        var prefix: String?
        var glob: String?
        var recursive: Bool?
    }

    public static let name = "files"
    public static let description = "Objects (files) in and out of a local directory."
    public static let dataType = DataType.object
    public static let configSchema = #"""
    {"type":"object","required":["root"],"additionalProperties":false,
     "properties":{
       "root":{"type":"string","minLength":1,"description":"The directory to read from or write to."},
       "prefix":{"type":"string","description":"Only paths (relative to root) that start with this."},
       "glob":{"type":"string","description":"Only paths matching this fnmatch pattern, e.g. *.csv."},
       "recursive":{"type":"boolean","default":true,"description":"Descend into subdirectories."}}}
    """#

    let root: URL
    let config: Config

    public init(config: Config, credentials: NoConfig) throws {
        self.config = config
        root = URL(fileURLWithPath: config.root).standardizedFileURL
    }

    public func check(_ context: CallContext) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
            throw PluginError.invalidConfig("root \(root.path) is not a directory")
        }
    }

    // MARK: Source

    public func read(after resumeToken: Data?, context: CallContext) throws -> any ItemCursor {
        try check(context)
        let after = resumeToken.map { String(decoding: $0, as: UTF8.self) }
        let paths = try listFiles().filter { after == nil || $0.utf8.lexicographicallyPrecedes(after!.utf8) == false && $0 != after! }
        let root = self.root
        var index = 0
        return ClosureCursor { context in
            try context.checkCancelled()
            guard index < paths.count else { return nil }
            let rel = paths[index]
            index += 1
            let url = root.appendingPathComponent(rel)
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw PluginError.transient("cannot read \(url.path): \(error.localizedDescription)")
            }
            let attrs = try? FileManager.default.attributesOfItem(atPath: url.path)
            var meta: [String: JSON] = ["path": .string(rel), "size": .number(Double(data.count))]
            if let m = attrs?[.modificationDate] as? Date { meta["modified"] = .string(ISO8601DateFormatter().string(from: m)) }
            return Item(metadata: .object(meta), payload: data, resumeToken: rel)
        }
    }

    /// Relative paths of regular files, filtered, in byte order.
    func listFiles() throws -> [String] {
        guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey],
                                                     options: config.recursive == false ? [.skipsSubdirectoryDescendants] : []) else {
            throw PluginError.invalidConfig("cannot list \(root.path)")
        }
        let base = root.path.hasSuffix("/") ? root.path : root.path + "/"
        var out: [String] = []
        for case let url as URL in e {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let full = url.standardizedFileURL.path
            guard full.hasPrefix(base) else { continue }
            let rel = String(full.dropFirst(base.count))
            if rel.split(separator: "/").contains(where: { $0.hasPrefix(".nvisy-tmp-") }) { continue }
            if let p = config.prefix, !rel.hasPrefix(p) { continue }
            if let g = config.glob, fnmatch(g, rel, 0) != 0 { continue }
            out.append(rel)
        }
        return out.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    // MARK: Sink

    public func write(_ items: [Item], context: CallContext) throws {
        for item in items {
            try context.checkCancelled()
            guard let rel = item.metadata["path"]?.stringValue, !rel.isEmpty else {
                throw PluginError.permanent("an object to write has no metadata.path")
            }
            guard !rel.hasPrefix("/"), !rel.split(separator: "/").contains("..") else {
                throw PluginError.permanent("path \"\(rel)\" must be relative and stay under root")
            }
            let target = root.appendingPathComponent(rel)
            let dir = target.deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let tmp = dir.appendingPathComponent(".nvisy-tmp-\(UUID().uuidString)")
                try item.payload.write(to: tmp)
                guard rename(tmp.path, target.path) == 0 else {
                    let e = errno
                    try? FileManager.default.removeItem(at: tmp)
                    throw PluginError.transient("cannot move into \(target.path): errno \(e)")
                }
            } catch let e as PluginError {
                throw e
            } catch {
                throw PluginError.transient("cannot write \(target.path): \(error.localizedDescription)")
            }
        }
    }
}
