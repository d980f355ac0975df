import Foundation
import NvisyCore
import TOMLKit

/// One `plugins.d/<name>.toml` file.
///
/// ```toml
/// name = "filesystem"              # the plugin's name; providers are "filesystem/<provider>"
/// runtime = "swift"                # "swift" (a dlopen'd library) or "python"
/// library = "libNvisyFilesystemPlugin.so"   # swift: see PluginLibraryResolver
/// # module = "nvisy_s3"            # python: the module to import
/// enabled = true
/// description = "Local files"      # optional
///
/// isolation = "none"             # optional: "process" runs it in a child process (see Isolated/)
/// memory_limit_mb = 2048           # optional, process isolation: the child's address-space cap
/// cpu_limit_seconds = 3600         # optional, process isolation: the child's CPU-time cap
///
/// [defaults.files]                 # optional: config defaults for provider "files"
/// recursive = true
/// ```
public struct PluginManifest: Sendable, Hashable {
    public var path: URL
    public var name: String
    public var runtime: String
    public var library: String?
    public var module: String?
    public var enabled: Bool
    public var description: String?
    /// Config defaults per provider name (JSON objects).
    public var defaults: [String: JSONValue]
    /// Where the plugin runs: in the host (default) or in a child process of its own.
    public var isolation: PluginIsolation = .none
    /// Process isolation: the child's address-space cap in MiB (nil: the host's default).
    public var memoryLimitMB: Int?
    /// Process isolation: the child's CPU-time cap in seconds (nil: none).
    public var cpuLimitSeconds: Int?

    public init(path: URL, name: String, runtime: String, library: String? = nil, module: String? = nil,
                enabled: Bool = true, description: String? = nil, defaults: [String: JSONValue] = [:]) {
        self.path = path
        self.name = name
        self.runtime = runtime
        self.library = library
        self.module = module
        self.enabled = enabled
        self.description = description
        self.defaults = defaults
    }

    /// Parses a manifest file. Throws ``NvisyError`` (invalid input) naming the file and the field.
    public static func load(from path: URL) throws -> PluginManifest {
        let text: String
        do {
            text = try String(contentsOf: path, encoding: .utf8)
        } catch {
            throw NvisyError.invalidInput("\(path.path): cannot read the manifest (\(error.localizedDescription))")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: URL) throws -> PluginManifest {
        if let problem = TOMLPrecheck.problem(in: text) { throw NvisyError.invalidInput("\(path.path): not valid TOML: \(problem)") }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            throw NvisyError.invalidInput("\(path.path): not valid TOML: \(error)")
        }
        func bad(_ what: String) -> NvisyError { .invalidInput("\(path.path): \(what)") }
        let known: Set = ["name", "runtime", "library", "module", "enabled", "description", "defaults", "version",
                          "isolation", "memory_limit_mb", "cpu_limit_seconds"]
        if let unknown = table.keys.first(where: { !known.contains($0) }) {
            throw bad("unknown key `\(unknown)` (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let name = table["name"]?.string, !name.isEmpty else { throw bad("`name` is missing or not a string") }
        guard name.range(of: "^[a-z0-9][a-z0-9_-]*$", options: .regularExpression) != nil else {
            throw bad("`name` \"\(name)\" must be lower-case letters, digits, '-' or '_'")
        }
        guard let runtime = table["runtime"]?.string else { throw bad("`runtime` is missing (\"swift\" or \"python\")") }
        var enabled = true
        if let value = table["enabled"] {
            guard let b = value.bool else { throw bad("`enabled` must be true or false") }
            enabled = b
        }
        let library = table["library"]?.string
        let module = table["module"]?.string
        if table["library"] != nil, library == nil { throw bad("`library` must be a string") }
        switch runtime {
        case "swift": if library == nil { throw bad("`library` is required for runtime \"swift\"") }
        case "python": if module == nil { throw bad("`module` is required for runtime \"python\"") }
        default: throw bad("unknown runtime \"\(runtime)\" (use \"swift\" or \"python\")")
        }
        var defaults: [String: JSONValue] = [:]
        if let d = table["defaults"] {
            guard let t = d.table else { throw bad("`defaults` must be a table of tables: [defaults.<provider>]") }
            for key in t.keys {
                guard let sub = t[key]?.table else { throw bad("`defaults.\(key)` must be a table") }
                defaults[key] = jsonValue(sub)
            }
        }
        var manifest = PluginManifest(path: path, name: name, runtime: runtime, library: library, module: module,
                                      enabled: enabled, description: table["description"]?.string, defaults: defaults)
        try manifest.parseIsolation(table, bad)
        return manifest
    }

    static func jsonValue(_ value: any TOMLValueConvertible) -> JSONValue {
        if let t = value.table {
            var out: [String: JSONValue] = [:]
            for k in t.keys { if let v = t[k] { out[k] = jsonValue(v) } }
            return .object(out)
        }
        if let a = value.array { return .array(a.map { jsonValue($0) }) }
        if let b = value.bool { return .bool(b) }
        if let i = value.int { return .number(Double(i)) }
        if let d = value.double { return .number(d) }
        if let s = value.string { return .string(s) }
        return .string(String(describing: value))
    }

    /// Rewrites the top-level `enabled = …` line of the manifest at `path` (keeping
    /// comments and layout), or inserts one after `name = …`.
    public static func setEnabled(_ enabled: Bool, at path: URL) throws {
        var lines = try String(contentsOf: path, encoding: .utf8).components(separatedBy: "\n")
        let value = "enabled = \(enabled)"
        let firstTable = lines.firstIndex { $0.trimmingCharacters(in: .whitespaces).hasPrefix("[") } ?? lines.count
        if let i = lines[..<firstTable].firstIndex(where: {
            $0.range(of: #"^\s*enabled\s*="#, options: .regularExpression) != nil
        }) {
            lines[i] = value
        } else if let i = lines[..<firstTable].firstIndex(where: {
            $0.range(of: #"^\s*name\s*="#, options: .regularExpression) != nil
        }) {
            lines.insert(value, at: i + 1)
        } else {
            lines.insert(value, at: 0)
        }
        let text = lines.joined(separator: "\n")
        // Write atomically so a concurrent reload never sees half a file.
        let tmp = path.deletingLastPathComponent().appendingPathComponent(".\(path.lastPathComponent).\(UUID().uuidString).tmp")
        try Data(text.utf8).write(to: tmp)
        if rename(tmp.path, path.path) != 0 {
            try? FileManager.default.removeItem(at: tmp)
            throw NvisyError.internal("\(path.path): cannot rewrite the manifest (errno \(errno))")
        }
    }
}
