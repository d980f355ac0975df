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
        CSVCursor(objects: items, delimiter: delimiter, header: header)
    }
}

/// Rows of a batch of CSV objects as records. Each record's JSON text is written straight from
/// the row's bytes (keys sorted, as `JSON.serialized()` writes them) rather than through a
/// `JSON` tree: a million-row file is a million of these, so the per-row loop (``fill``) works
/// on locals — no property access, optional unwrap or struct copy per row.
final class CSVCursor: ItemCursor {
    private var objects: IndexingIterator<[Item]>
    private let delimiter: UInt8
    private let header: Bool
    private var parser: CSVParser?
    private var name = "object"
    private var tokenPrefix: [UInt8] = []
    /// Field names in output order (sorted, unique, as JSON strings) and the field each takes.
    private var layout: (keys: [[UInt8]], fields: [Int])?
    private var fieldCount = 0
    private var json: [UInt8] = []

    init(objects: [Item], delimiter: UInt8, header: Bool) {
        self.objects = objects.makeIterator()
        self.delimiter = delimiter
        self.header = header
    }

    func next(max: Int, context: CallContext) throws -> [Item] {
        var out: [Item] = []
        out.reserveCapacity(Swift.min(max, 4096))
        while out.count < max {
            if parser == nil {
                guard let item = objects.next() else { break }
                name = item.metadata["path"]?.stringValue ?? "object"
                tokenPrefix = Array(item.resumeToken) + [UInt8(ascii: "#")]
                parser = CSVParser(item.payload, delimiter: delimiter)
                layout = nil
            }
            // The parser and buffer leave `self` for the loop (so they stay uniquely referenced).
            var p = parser.take()!
            var buffer = json
            json = []
            let more = try fill(&p, &buffer, into: &out, max: max, context: context)
            json = buffer
            if more { parser = p }
        }
        return out
    }

    /// Appends rows of `p` to `out` until `max`; false when the object has no more rows.
    private func fill(_ p: inout CSVParser, _ json: inout [UInt8], into out: inout [Item], max: Int, context: CallContext) throws -> Bool {
        if layout == nil {
            guard try p.nextRow(name: name) != nil else { return false }
            let names = header ? (0..<p.fieldCount).map { String(decoding: p.field($0), as: UTF8.self) }
                               : (1...p.fieldCount).map { "c\($0)" }
            // A repeated name keeps its last field, as a dictionary would.
            var last: [String: Int] = [:]
            for (i, n) in names.enumerated() { last[n] = i }
            let sorted = last.keys.sorted()
            layout = (sorted.map { n in
                var key: [UInt8] = []
                JSONText.appendString(Array(n.utf8)[...], to: &key)
                return key
            }, sorted.map { last[$0]! })
            fieldCount = names.count
            if !header { try append(&p, &json, layout!, tokenPrefix, to: &out) }
        }
        let layout = self.layout!, prefix = tokenPrefix
        while out.count < max {
            guard try p.nextRow(name: name) != nil else { return false }
            if out.count % 256 == 0 { try context.checkCancelled() }
            try append(&p, &json, layout, prefix, to: &out)
        }
        return true
    }

    /// The record of the row `p` just read.
    @inline(__always)
    private func append(_ p: inout CSVParser, _ json: inout [UInt8], _ layout: (keys: [[UInt8]], fields: [Int]), _ prefix: [UInt8],
                        to out: inout [Item]) throws {
        guard p.fieldCount == fieldCount else {
            throw PluginError.permanent("\(name) line \(p.rowLine): expected \(fieldCount) fields, found \(p.fieldCount)")
        }
        let (keys, fields) = layout
        // One buffer for the record's JSON text and, after it, its resume token.
        json.removeAll(keepingCapacity: true)
        json.append(UInt8(ascii: "{"))
        for i in keys.indices {
            if i > 0 { json.append(UInt8(ascii: ",")) }
            json.append(contentsOf: keys[i])
            json.append(UInt8(ascii: ":"))
            p.appendJSONString(field: fields[i], to: &json)
        }
        json.append(UInt8(ascii: "}"))
        // The token: the object's, "#", the line (digits written backwards, then turned round).
        let mark = json.count
        json.append(contentsOf: prefix)
        let digits = json.count
        var line = p.rowLine
        repeat {
            json.append(UInt8(ascii: "0") + UInt8(line % 10))
            line /= 10
        } while line > 0
        json[digits...].reverse()
        out.append(Item(metadataJSON: Data(json[..<mark]), resumeToken: Data(json[mark...])))
    }
}

/// JSON string escaping for bytes, the way `JSON.serialized()` escapes.
enum JSONText {
    /// Appends `s` as a JSON string; invalid UTF-8 becomes U+FFFD, as `String(decoding:)` makes it.
    static func appendString(_ s: ArraySlice<UInt8>, to out: inout [UInt8]) {
        if s.contains(where: { $0 >= 0x80 }) {
            let repaired = Array(String(decoding: s, as: UTF8.self).utf8)
            if repaired.count != s.count || !repaired.elementsEqual(s) { return appendASCIIOrValid(repaired[...], to: &out) }
        }
        appendASCIIOrValid(s, to: &out)
    }

    private static func appendASCIIOrValid(_ s: ArraySlice<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        for b in s {
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(0x22)
    }
}

/// A byte-level RFC 4180 reader. A row's fields are kept in one reusable buffer
/// (``field(_:)``) instead of a `String` each; invalid UTF-8 is repaired when a field is
/// written as JSON (``JSONText``).
struct CSVParser {
    let bytes: [UInt8]
    let delimiter: UInt8
    var pos = 0
    var line = 1
    private var row: [UInt8] = []
    private var ends: [Int] = []

    init(_ data: Data, delimiter: UInt8) {
        var b = [UInt8](data)
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { b.removeFirst(3) }
        bytes = b
        self.delimiter = delimiter
    }

    /// Fields in the last row read.
    var fieldCount: Int { ends.count }
    /// The line the last row read starts on.
    private(set) var rowLine = 0

    /// Appends field `i` of the last row as a JSON string. Most fields are plain ASCII with
    /// nothing to escape: those are copied whole; others go through ``JSONText``.
    func appendJSONString(field i: Int, to out: inout [UInt8]) {
        let start = i == 0 ? 0 : ends[i - 1], end = ends[i]
        let plain = row.withUnsafeBufferPointer { b in
            for k in start..<end {
                let c = b[k]
                if c < 0x20 || c >= 0x80 || c == 0x22 || c == 0x5C { return false }
            }
            out.append(0x22)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<end]))
            out.append(0x22)
            return true
        }
        if !plain { JSONText.appendString(row[start..<end], to: &out) }
    }

    /// The bytes of field `i` of the last row read.
    func field(_ i: Int) -> ArraySlice<UInt8> { row[(i == 0 ? 0 : ends[i - 1])..<ends[i]] }

    /// Reads the next row (then ``field(_:)``); answers the line it starts on, or nil at the
    /// end. Blank lines are skipped.
    mutating func nextRow(name: String) throws -> Int? {
        while pos < bytes.count, bytes[pos] == 0x0A || bytes[pos] == 0x0D {
            if bytes[pos] == 0x0A { line += 1 }
            pos += 1
        }
        guard pos < bytes.count else { return nil }
        let start = line
        rowLine = line
        row.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        var fieldStart = 0
        var quoted = false
        var wasQuoted = false
        while pos < bytes.count {
            let c = bytes[pos]
            if quoted {
                if c == 0x22 {
                    if pos + 1 < bytes.count, bytes[pos + 1] == 0x22 { row.append(0x22); pos += 2; continue }
                    quoted = false; pos += 1; continue
                }
                if c == 0x0A { line += 1 }
                row.append(c); pos += 1; continue
            }
            if c == 0x22, row.count == fieldStart, !wasQuoted { quoted = true; wasQuoted = true; pos += 1; continue }
            if c == delimiter {
                ends.append(row.count); fieldStart = row.count; wasQuoted = false; pos += 1; continue
            }
            if c == 0x0A || c == 0x0D {
                if c == 0x0D, pos + 1 < bytes.count, bytes[pos + 1] == 0x0A { pos += 1 }
                pos += 1
                line += 1
                ends.append(row.count)
                return start
            }
            if wasQuoted { throw PluginError.permanent("\(name) line \(line): text after a closing quote") }
            row.append(c); pos += 1
        }
        if quoted { throw PluginError.permanent("\(name) line \(start): unterminated quoted field") }
        ends.append(row.count)
        return start
    }
}
