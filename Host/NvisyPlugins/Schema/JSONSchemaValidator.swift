import Foundation
import NvisyCore

/// Validates JSON values against the subset of JSON Schema (2020-12) that provider
/// schemas use: `type` (one or a list), `properties`, `required`,
/// `additionalProperties` (bool or schema), `items`, `enum`, `const`,
/// `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`, `minLength`/`maxLength`,
/// `pattern`, `minItems`/`maxItems`, `anyOf`. Annotations (`title`, `description`,
/// `default`, `examples`, `format`) are accepted and not checked.
public struct JSONSchemaValidator: Sendable {
    public let schema: JSONValue

    public init(schema: JSONValue) {
        self.schema = schema
    }

    /// Every violation, each with a JSON pointer (prefixed with `pointerPrefix`).
    public func errors(in value: JSONValue, pointerPrefix: String = "") -> [NvisyError.FieldError] {
        var out: [NvisyError.FieldError] = []
        check(value, against: schema, at: pointerPrefix, into: &out)
        return out
    }

    /// Throws ``NvisyError`` (invalid input, with field errors) when `value` does not conform.
    public func validate(_ value: JSONValue, what: String, pointerPrefix: String = "") throws {
        let errs = errors(in: value, pointerPrefix: pointerPrefix)
        guard errs.isEmpty else {
            let list = errs.map { "\($0.pointer.isEmpty ? "/" : $0.pointer): \($0.message)" }.joined(separator: "; ")
            throw NvisyError.invalidInput("\(what) is invalid: \(list)", fields: errs)
        }
    }

    private func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n == n.rounded() && n.isFinite ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    private func matches(_ v: JSONValue, type: String) -> Bool {
        let actual = typeName(v)
        return actual == type || (type == "number" && actual == "integer")
    }

    private func check(_ v: JSONValue, against s: JSONValue, at ptr: String, into out: inout [NvisyError.FieldError]) {
        if case .bool(let b) = s {
            if !b { out.append(.init(pointer: ptr, message: "is not allowed")) }
            return
        }
        guard case .object(let kw) = s else { return }

        if let t = kw["type"] {
            let types = t.arrayValue?.compactMap(\.stringValue) ?? t.stringValue.map { [$0] } ?? []
            if !types.isEmpty, !types.contains(where: { matches(v, type: $0) }) {
                out.append(.init(pointer: ptr, message: "must be \(types.joined(separator: " or ")), not \(typeName(v))"))
                return
            }
        }
        if let e = kw["enum"]?.arrayValue, !e.contains(v) {
            out.append(.init(pointer: ptr, message: "must be one of \(e.map(render).joined(separator: ", "))"))
        }
        if let c = kw["const"], c != v {
            out.append(.init(pointer: ptr, message: "must be \(render(c))"))
        }
        if let any = kw["anyOf"]?.arrayValue {
            let ok = any.contains { sub in
                var tmp: [NvisyError.FieldError] = []
                check(v, against: sub, at: ptr, into: &tmp)
                return tmp.isEmpty
            }
            if !ok { out.append(.init(pointer: ptr, message: "matches none of the allowed forms")) }
        }

        switch v {
        case .number(let n):
            if let m = kw["minimum"]?.doubleValue, n < m { out.append(.init(pointer: ptr, message: "must be ≥ \(render(.number(m)))")) }
            if let m = kw["maximum"]?.doubleValue, n > m { out.append(.init(pointer: ptr, message: "must be ≤ \(render(.number(m)))")) }
            if let m = kw["exclusiveMinimum"]?.doubleValue, n <= m { out.append(.init(pointer: ptr, message: "must be > \(render(.number(m)))")) }
            if let m = kw["exclusiveMaximum"]?.doubleValue, n >= m { out.append(.init(pointer: ptr, message: "must be < \(render(.number(m)))")) }
        case .string(let str):
            let count = str.count
            if let m = kw["minLength"]?.doubleValue, Double(count) < m { out.append(.init(pointer: ptr, message: "must have at least \(Int(m)) characters")) }
            if let m = kw["maxLength"]?.doubleValue, Double(count) > m { out.append(.init(pointer: ptr, message: "must have at most \(Int(m)) characters")) }
            if let p = kw["pattern"]?.stringValue, str.range(of: p, options: .regularExpression) == nil {
                out.append(.init(pointer: ptr, message: "must match the pattern \(p)"))
            }
        case .array(let items):
            if let m = kw["minItems"]?.doubleValue, Double(items.count) < m { out.append(.init(pointer: ptr, message: "must have at least \(Int(m)) items")) }
            if let m = kw["maxItems"]?.doubleValue, Double(items.count) > m { out.append(.init(pointer: ptr, message: "must have at most \(Int(m)) items")) }
            if let itemSchema = kw["items"] {
                for (i, item) in items.enumerated() { check(item, against: itemSchema, at: "\(ptr)/\(i)", into: &out) }
            }
        case .object(let members):
            let props = kw["properties"]?.objectValue ?? [:]
            for name in kw["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                out.append(.init(pointer: "\(ptr)/\(escape(name))", message: "is required"))
            }
            for (name, value) in members.sorted(by: { $0.key < $1.key }) {
                let p = "\(ptr)/\(escape(name))"
                if let sub = props[name] {
                    check(value, against: sub, at: p, into: &out)
                } else if let extra = kw["additionalProperties"] {
                    if case .bool(false) = extra {
                        let known = props.keys.sorted().joined(separator: ", ")
                        out.append(.init(pointer: p, message: "is not a known property" + (known.isEmpty ? "" : " (known: \(known))")))
                    } else {
                        check(value, against: extra, at: p, into: &out)
                    }
                }
            }
        default:
            break
        }
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    private func render(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): "\"\(s)\""
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .bool(let b): String(b)
        case .null: "null"
        default: (try? String(decoding: JSONEncoder().encode(v), as: UTF8.self)) ?? "?"
        }
    }
}
