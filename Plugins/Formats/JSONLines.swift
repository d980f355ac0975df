import Foundation
import NvisyPluginKit

/// `formats/jsonl`: objects (JSON Lines) → records, one per non-blank line, streamed.
/// A line that is not a JSON object fails with its path and line number.
public final class JSONLines: TransformProvider {
    public static let name = "jsonl"
    public static let description = "Parses JSON Lines objects into records (one per line)."
    public static let dataType = DataType.record
    public static let inputDataType = DataType.object
    public static let configSchema = #"{"type":"object","additionalProperties":false,"properties":{}}"#

    public init(config: NoConfig, credentials: NoConfig) throws {}

    public func transform(_ items: [Item], context: CallContext) throws -> any ItemCursor {
        var objects = items.makeIterator()
        var current: (item: Item, name: String, lines: [Data], index: Int)? = nil
        return ClosureCursor { context in
            while true {
                if current == nil {
                    guard let item = objects.next() else { return nil }
                    let lines = item.payload.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
                    current = (item, item.metadata["path"]?.stringValue ?? "object", lines, 0)
                }
                guard current!.index < current!.lines.count else { current = nil; continue }
                let lineNo = current!.index + 1
                var line = current!.lines[current!.index]
                current!.index += 1
                if line.last == 0x0D { line.removeLast() }
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                try context.checkCancelled()
                let value: JSON
                do { value = try JSON.parse(line) } catch {
                    throw PluginError.permanent("\(current!.name) line \(lineNo): not valid JSON")
                }
                guard case .object = value else {
                    throw PluginError.permanent("\(current!.name) line \(lineNo): expected a JSON object")
                }
                return Item(metadataJSON: line, resumeToken: Data("\(current!.item.resumeTokenString)#\(lineNo)".utf8))
            }
        }
    }
}

/// `formats/jsonl-encode`: records → objects. Each input batch becomes one JSON Lines
/// object at `path` (`{n}`: batch number; `{token}`: a hash of the batch's first resume
/// token, so a resent batch rewrites the same object).
public final class JSONLinesEncode: TransformProvider {
    public struct Config: Decodable, Sendable { var path: String? }
    public static let name = "jsonl-encode"
    public static let description = "Writes records as JSON Lines objects (one per batch)."
    public static let dataType = DataType.object
    public static let inputDataType = DataType.record
    public static let configSchema = #"""
    {"type":"object","additionalProperties":false,"properties":{
      "path":{"type":"string","minLength":1,"default":"records-{token}.jsonl"}}}
    """#

    let path: String
    var batches = 0

    public init(config: Config, credentials: NoConfig) throws { path = config.path ?? "records-{token}.jsonl" }

    public func transform(_ items: [Item], context: CallContext) throws -> any ItemCursor {
        guard !items.isEmpty else { return SequenceCursor([Item]()) }
        batches += 1
        var body = Data()
        for item in items {
            body.append(item.metadataJSON.isEmpty ? Data("{}".utf8) : item.metadataJSON)
            body.append(0x0A)
        }
        var hash: UInt64 = 0xcbf29ce484222325  // FNV-1a
        for b in items[0].resumeToken { hash = (hash ^ UInt64(b)) &* 0x100000001b3 }
        let name = path.replacingOccurrences(of: "{n}", with: String(batches))
            .replacingOccurrences(of: "{token}", with: String(hash, radix: 16))
        return SequenceCursor([Item(metadata: ["path": .string(name)], payload: body, resumeToken: items.last!.resumeToken.isEmpty ? "" : items.last!.resumeTokenString)])
    }
}
