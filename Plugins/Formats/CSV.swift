import Foundation
import NvisyPluginKit

/// `formats/csv`: objects (CSV text) → records, one per row, streamed.
///
/// RFC 4180: quoted fields may hold delimiters, quotes (`""`) and newlines. With
/// `header` (default) the first row names the fields; otherwise they are `c1`, `c2`, …
/// A row with the wrong number of fields fails with its path and line number.
public final class CSV: TransformProvider {
    public struct Config: Decodable, Sendable {
        var delimiter: String?
        var header: Bool?
    }

    public static let name = "csv"
    public static let description = "Parses CSV objects into records (one per row)."
    public static let dataType = DataType.record
    public static let inputDataType = DataType.object
    public static let configSchema = #"""
    {"type":"object","additionalProperties":false,"properties":{
      "delimiter":{"type":"string","minLength":1,"maxLength":1,"default":","},
      "header":{"type":"boolean","default":true,"description":"The first row names the fields."}}}
    """#

    let delimiter: UInt8
    let header: Bool

    public init(config: Config, credentials: NoConfig) throws {
        guard let d = (config.delimiter ?? ",").utf8.first, (config.delimiter ?? ",").utf8.count == 1 else {
            throw PluginError.invalidConfig("delimiter must be one ASCII character")
        }
        delimiter = d
        header = config.header ?? true
    }

    public func transform(_ items: [Item], context: CallContext) throws -> any ItemCursor {
        var objects = items.makeIterator()
        var current: (item: Item, name: String, parser: CSVParser)? = nil
        var names: [String]? = nil
        let delimiter = self.delimiter
        let header = self.header
        return ClosureCursor { context in
            while true {
                if current == nil {
                    guard let item = objects.next() else { return nil }
                    let name = item.metadata["path"]?.stringValue ?? "object"
                    current = (item, name, CSVParser(item.payload, delimiter: delimiter))
                    names = nil
                }
                let (item, name, _) = current!
                guard let (line, fields) = try current!.parser.nextRow(name: name) else {
                    current = nil
                    continue
                }
                try context.checkCancelled()
                if header, names == nil {
                    names = fields
                    continue
                }
                let keys = names ?? (1...fields.count).map { "c\($0)" }
                if names == nil { names = keys }
                guard fields.count == keys.count else {
                    throw PluginError.permanent("\(name) line \(line): expected \(keys.count) fields, found \(fields.count)")
                }
                var record: [String: JSON] = [:]
                for (k, v) in zip(keys, fields) { record[k] = .string(v) }
                return Item(metadata: .object(record), resumeToken: "\(item.resumeTokenString)#\(line)")
            }
        }
    }
}

/// A byte-level RFC 4180 reader.
struct CSVParser {
    let bytes: [UInt8]
    let delimiter: UInt8
    var pos = 0
    var line = 1

    init(_ data: Data, delimiter: UInt8) {
        var b = [UInt8](data)
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { b.removeFirst(3) }
        bytes = b
        self.delimiter = delimiter
    }

    /// The next row and the line it starts on, or nil at the end. Blank lines are skipped.
    mutating func nextRow(name: String) throws -> (Int, [String])? {
        while pos < bytes.count, bytes[pos] == 0x0A || bytes[pos] == 0x0D {
            if bytes[pos] == 0x0A { line += 1 }
            pos += 1
        }
        guard pos < bytes.count else { return nil }
        let start = line
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var wasQuoted = false
        while pos < bytes.count {
            let c = bytes[pos]
            if quoted {
                if c == 0x22 {
                    if pos + 1 < bytes.count, bytes[pos + 1] == 0x22 { field.append(0x22); pos += 2; continue }
                    quoted = false; pos += 1; continue
                }
                if c == 0x0A { line += 1 }
                field.append(c); pos += 1; continue
            }
            if c == 0x22, field.isEmpty, !wasQuoted { quoted = true; wasQuoted = true; pos += 1; continue }
            if c == delimiter {
                fields.append(String(decoding: field, as: UTF8.self)); field = []; wasQuoted = false; pos += 1; continue
            }
            if c == 0x0A || c == 0x0D {
                if c == 0x0D, pos + 1 < bytes.count, bytes[pos + 1] == 0x0A { pos += 1 }
                pos += 1
                line += 1
                fields.append(String(decoding: field, as: UTF8.self))
                return (start, fields)
            }
            if wasQuoted { throw PluginError.permanent("\(name) line \(line): text after a closing quote") }
            field.append(c); pos += 1
        }
        if quoted { throw PluginError.permanent("\(name) line \(start): unterminated quoted field") }
        fields.append(String(decoding: field, as: UTF8.self))
        return (start, fields)
    }
}
