import Foundation
import NvisyCore

/// Printing answers: `--json` prints the API's JSON as it came (pretty, keys sorted) for
/// scripts; otherwise an aligned table of the columns a person looks at first.
enum Output {
    /// Prints a JSON value, pretty and with sorted keys.
    static func json(_ value: JSONValue) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Prints `items` (objects) as a table with the given `(header, key path)` columns.
    static func table(_ items: [JSONValue], _ columns: [(String, String)]) {
        let rows = items.map { item in columns.map { text(item, $0.1) } }
        print(render(header: columns.map(\.0), rows: rows), terminator: "")
    }

    /// Prints one object as `key: value` lines.
    static func record(_ item: JSONValue, _ columns: [(String, String)]) {
        let width = columns.map(\.0.count).max() ?? 0
        for (name, key) in columns {
            print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + text(item, key))
        }
    }

    /// The aligned table as text (header, then one line per row).
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        var out = ""
        for row in all {
            let cells = row.indices.map { i in i == row.count - 1 ? row[i] : row[i].padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            var line = cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        if rows.isEmpty { out += "(none)\n" }
        return out
    }

    /// The value at a dotted key path (`credentials.set`) as short text; `-` when absent.
    static func text(_ item: JSONValue, _ path: String) -> String {
        var value: JSONValue? = item
        for part in path.split(separator: ".") { value = value?[String(part)] }
        return describe(value)
    }

    static func describe(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: return "-"
        case .string(let s)?: return s
        case .bool(let b)?: return b ? "yes" : "no"
        case .number(let n)?: return n.rounded() == n && abs(n) < 1e15 ? String(Int64(n)) : String(format: "%.1f", n)
        case .array(let a)?: return a.map { describe($0) }.joined(separator: ",")
        case .object?:
            let data = (try? JSONEncoder().encode(value)) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// A list answer's `items`.
    static func items(_ page: JSONValue) -> [JSONValue] { page["items"]?.arrayValue ?? [] }

    /// A JSON argument: inline JSON, or `@file` to read it from a file.
    static func parseJSON(_ text: String, option: String) throws -> JSONValue {
        var data = Data(text.utf8)
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw NvisyError.invalidInput("\(option): cannot read \(path)")
            }
            data = contents
        }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw NvisyError.invalidInput("\(option) is not valid JSON (give inline JSON or @file.json)")
        }
    }

    /// A path segment, percent-encoded (ids are UUIDs, but names typed by people are not).
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? text
    }

    /// A query value, percent-encoded.
    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
