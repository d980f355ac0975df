import Foundation
import NvisyCore

/// A small, safe predicate language over item metadata (JSON-logic style; nothing is evaluated
/// as code). Used by `filter` (`params.where`) and by switch cases (`when`).
///
/// | form | holds when |
/// |---|---|
/// | `true`, `false` | always / never |
/// | `{"==": [a, b]}`, `"!="`, `"<"`, `"<="`, `">"`, `">="` | the comparison holds |
/// | `{"and": [p, …]}`, `{"or": [p, …]}`, `{"not": p}` | logic |
/// | `{"exists": "/ptr"}` | the pointer names a non-null value |
/// | `{"in": [a, [v, …]]}` | `a` equals one of the values |
/// | `{"contains": [a, b]}` | string `a` contains `b`, or array `a` holds `b` |
/// | `{"startsWith": [a, b]}`, `{"endsWith": [a, b]}` | string prefix / suffix |
/// | `{"extension": ["csv", …]}` | `/path`'s extension is one of these (case-insensitive) |
/// | `{"contentType": "text/*"}` | `/contentType` matches (a `type/*` wildcard allowed) |
/// | `{"category": ["document", …]}` | the file's ``FileCategory`` (from `/contentType`, else `/path`) is one of these |
/// | `{"language": ["en", …]}` | `/language`, else the language detected in the text payload, is one of these |
///
/// An operand is `{"var": "/json/pointer"}` (a value of the item's metadata) or a literal.
/// Comparisons are numeric when both sides are numbers or numeric strings (CSV fields are
/// strings: `{">=": [{"var": "/age"}, 18]}` works), else they compare strings; a missing
/// value makes every comparison except `!=` false.
public indirect enum Predicate: Sendable, Hashable {
    case constant(Bool)
    case all([Predicate])
    case any([Predicate])
    case not(Predicate)
    case compare(Comparison, Operand, Operand)
    case exists(JSONPointer)
    case oneOf(Operand, [JSONValue])
    case contains(Operand, Operand)
    case startsWith(Operand, Operand)
    case endsWith(Operand, Operand)
    case extensionIn(Set<String>)
    case contentType(String)
    case category(Set<FileCategory>)
    case language(Set<String>)

    public enum Comparison: String, Sendable, Hashable, CaseIterable {
        case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
    }

    public enum Operand: Sendable, Hashable {
        case variable(JSONPointer)
        case literal(JSONValue)

        func value(in metadata: JSONValue) -> JSONValue? {
            switch self {
            case .variable(let p): p.get(metadata)
            case .literal(let v): v
            }
        }
    }

    /// Parses `json`; problems carry pointers under `pointer`.
    public static func parse(_ json: JSONValue, at pointer: String) -> Result<Predicate, PredicateErrors> {
        var errors: [(String, String)] = []
        let p = parse(json, pointer, &errors)
        return errors.isEmpty ? .success(p) : .failure(PredicateErrors(errors: errors))
    }

    public struct PredicateErrors: Error, Sendable {
        /// (pointer, message)
        public var errors: [(String, String)]
    }

    private static func parse(_ json: JSONValue, _ at: String, _ errors: inout [(String, String)]) -> Predicate {
        if case .bool(let b) = json { return .constant(b) }
        guard case .object(let o) = json, o.count == 1, let (op, arg) = o.first else {
            errors.append((at, "a predicate is true, false, or an object with one operator key (==, !=, <, <=, >, >=, and, or, not, exists, in, contains, startsWith, endsWith, extension, contentType)"))
            return .constant(false)
        }
        let here = JSONPointer.appending(at, op)
        func operands(_ n: Int) -> [Operand] {
            guard case .array(let a) = arg, a.count == n else {
                errors.append((here, "\"\(op)\" takes an array of \(n) operands"))
                return Array(repeating: .literal(.null), count: n)
            }
            return a.enumerated().map { operand($0.element, JSONPointer.appending(here, String($0.offset)), &errors) }
        }
        func list() -> [Predicate] {
            guard case .array(let a) = arg, !a.isEmpty else {
                errors.append((here, "\"\(op)\" takes a non-empty array of predicates"))
                return []
            }
            return a.enumerated().map { parse($0.element, JSONPointer.appending(here, String($0.offset)), &errors) }
        }
        if let c = Comparison(rawValue: op) {
            let o = operands(2)
            return .compare(c, o[0], o[1])
        }
        switch op {
        case "and": return .all(list())
        case "or": return .any(list())
        case "not", "!": return .not(parse(arg, here, &errors))
        case "exists":
            guard let s = arg.stringValue, let p = JSONPointer(s) else {
                errors.append((here, "\"exists\" takes a JSON pointer such as \"/name\""))
                return .constant(false)
            }
            return .exists(p)
        case "in":
            guard case .array(let a) = arg, a.count == 2, case .array(let values) = a[1] else {
                errors.append((here, "\"in\" takes [operand, [value, ...]]"))
                return .constant(false)
            }
            return .oneOf(operand(a[0], JSONPointer.appending(here, "0"), &errors), values)
        case "contains": let o = operands(2); return .contains(o[0], o[1])
        case "startsWith": let o = operands(2); return .startsWith(o[0], o[1])
        case "endsWith": let o = operands(2); return .endsWith(o[0], o[1])
        case "extension":
            let names: [String]
            switch arg {
            case .string(let s): names = [s]
            case .array(let a) where a.allSatisfy({ $0.stringValue != nil }) && !a.isEmpty: names = a.compactMap(\.stringValue)
            default:
                errors.append((here, "\"extension\" takes a string or an array of strings, e.g. [\"csv\", \"tsv\"]"))
                return .constant(false)
            }
            return .extensionIn(Set(names.map { $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".")) }))
        case "contentType":
            guard let s = arg.stringValue, s.contains("/") else {
                errors.append((here, "\"contentType\" takes a MIME type such as \"text/csv\" or \"text/*\""))
                return .constant(false)
            }
            return .contentType(s.lowercased())
        case "category":
            let names = arg.stringValue.map { [$0] } ?? arg.arrayValue?.compactMap(\.stringValue) ?? []
            let categories = names.compactMap { FileCategory(rawValue: $0.lowercased()) }
            guard !names.isEmpty, categories.count == names.count else {
                errors.append((here, "\"category\" takes one or more of \(FileCategory.allCases.map(\.rawValue).joined(separator: ", "))"))
                return .constant(false)
            }
            return .category(Set(categories))
        case "language":
            let codes = arg.stringValue.map { [$0] } ?? arg.arrayValue?.compactMap(\.stringValue) ?? []
            guard !codes.isEmpty, codes.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isLetter) }) else {
                errors.append((here, "\"language\" takes ISO 639-1 codes such as \"en\" or [\"de\", \"fr\"]"))
                return .constant(false)
            }
            return .language(Set(codes.map { $0.lowercased() }))
        default:
            errors.append((here, "unknown operator \"\(op)\""))
            return .constant(false)
        }
    }

    private static func operand(_ json: JSONValue, _ at: String, _ errors: inout [(String, String)]) -> Operand {
        if case .object(let o) = json, o.count == 1, let v = o["var"] {
            guard let s = v.stringValue, let p = JSONPointer(s) else {
                errors.append((JSONPointer.appending(at, "var"), "\"var\" takes a JSON pointer such as \"/age\""))
                return .literal(.null)
            }
            return .variable(p)
        }
        return .literal(json)
    }

    // MARK: Evaluation

    /// Whether the predicate holds for `metadata` (and, for `language`, the text in `payload`).
    public func evaluate(_ metadata: JSONValue, payload: Data? = nil) -> Bool {
        switch self {
        case .constant(let b): return b
        case .all(let ps): return ps.allSatisfy { $0.evaluate(metadata, payload: payload) }
        case .any(let ps): return ps.contains { $0.evaluate(metadata, payload: payload) }
        case .not(let p): return !p.evaluate(metadata, payload: payload)
        case .category(let wanted):
            return wanted.contains(FileCategory.of(contentType: metadata["contentType"]?.stringValue,
                                                   path: metadata["path"]?.stringValue ?? metadata["name"]?.stringValue))
        case .language(let wanted):
            if let declared = metadata["language"]?.stringValue { return wanted.contains(String(declared.prefix(2)).lowercased()) }
            guard let payload, let text = String(data: payload.prefix(16_384), encoding: .utf8) ?? String(data: payload.prefix(16_383), encoding: .utf8),
                  let detected = LanguageDetector.detect(text) else { return false }
            return wanted.contains(detected)
        case .exists(let p):
            if let v = p.get(metadata), v != .null { return true }
            return false
        case .compare(let c, let a, let b):
            let l = a.value(in: metadata), r = b.value(in: metadata)
            guard let l, let r, l != .null, r != .null else { return c == .ne ? (l ?? .null) != (r ?? .null) : (c == .eq && (l ?? .null) == (r ?? .null)) }
            return Self.compare(c, l, r)
        case .oneOf(let a, let values):
            guard let v = a.value(in: metadata) else { return false }
            return values.contains { Self.compare(.eq, v, $0) }
        case .contains(let a, let b):
            guard let l = a.value(in: metadata), let r = b.value(in: metadata) else { return false }
            if case .array(let items) = l { return items.contains { Self.compare(.eq, $0, r) } }
            guard let ls = Self.text(l), let rs = Self.text(r) else { return false }
            return ls.contains(rs)
        case .startsWith(let a, let b):
            guard let ls = a.value(in: metadata).flatMap(Self.text), let rs = b.value(in: metadata).flatMap(Self.text) else { return false }
            return ls.hasPrefix(rs)
        case .endsWith(let a, let b):
            guard let ls = a.value(in: metadata).flatMap(Self.text), let rs = b.value(in: metadata).flatMap(Self.text) else { return false }
            return ls.hasSuffix(rs)
        case .extensionIn(let names):
            guard let path = metadata["path"]?.stringValue, let dot = path.lastIndex(of: "."),
                  !path[dot...].contains("/") else { return false }
            return names.contains(path[path.index(after: dot)...].lowercased())
        case .contentType(let pattern):
            guard let ct = metadata["contentType"]?.stringValue?.split(separator: ";").first?
                .trimmingCharacters(in: .whitespaces).lowercased() else { return false }
            if pattern.hasSuffix("/*") { return ct.hasPrefix(String(pattern.dropLast())) }
            return ct == pattern
        }
    }

    static func number(_ v: JSONValue) -> Double? {
        switch v {
        case .number(let d): d
        case .string(let s): Double(s.trimmingCharacters(in: .whitespaces))
        default: nil
        }
    }

    static func text(_ v: JSONValue) -> String? {
        switch v {
        case .string(let s): s
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b): String(b)
        default: nil
        }
    }

    static func compare(_ c: Comparison, _ l: JSONValue, _ r: JSONValue) -> Bool {
        let ordering: Int
        if let a = number(l), let b = number(r), !(l.stringValue != nil && r.stringValue != nil && (c == .eq || c == .ne)) {
            ordering = a < b ? -1 : (a > b ? 1 : 0)
        } else if let a = text(l), let b = text(r) {
            ordering = a < b ? -1 : (a > b ? 1 : 0)
        } else {
            switch c {
            case .eq: return l == r
            case .ne: return l != r
            default: return false
            }
        }
        switch c {
        case .eq: return ordering == 0
        case .ne: return ordering != 0
        case .lt: return ordering < 0
        case .le: return ordering <= 0
        case .gt: return ordering > 0
        case .ge: return ordering >= 0
        }
    }
}
