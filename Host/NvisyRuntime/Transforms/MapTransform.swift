import Foundation
import NvisyCore
import NvisyPlugins

/// `map`: renames, drops and sets metadata fields, addressed by JSON pointers.
///
/// `params`: `{"rename": {"/from": "/to", …}, "drop": ["/x", …], "set": {"/y": <value>, …}}`,
/// applied in that order. Setting creates objects on the way; a missing field to rename or
/// drop is no error. An item whose metadata is not a JSON object fails (permanently).
public struct MapTransform: BuiltinTransform {
    public var rename: [(from: JSONPointer, to: JSONPointer)]
    public var drop: [JSONPointer]
    public var set: [(JSONPointer, JSONValue)]

    public static let spec = BuiltinTransformSpec(name: "map", accepts: nil, produces: nil) { params, _ in
        parse(params)
    }

    static func parse(_ params: JSONValue) -> Result<any BuiltinTransform, BuiltinParamErrors> {
        var errors: [(String, String)] = []
        guard case .object(let o) = params else {
            return .failure(BuiltinParamErrors("", "map takes {\"rename\": {...}, \"drop\": [...], \"set\": {...}}"))
        }
        for key in o.keys where !["rename", "drop", "set"].contains(key) {
            errors.append(("/\(key)", "unknown key; map takes rename, drop and set"))
        }
        func pointer(_ s: String, _ at: String) -> JSONPointer? {
            guard let p = JSONPointer(s), !p.tokens.isEmpty else {
                errors.append((at, "\"\(s)\" is not a JSON pointer to a field (e.g. \"/name\")"))
                return nil
            }
            return p
        }
        var t = MapTransform(rename: [], drop: [], set: [])
        if let r = o["rename"] {
            if case .object(let m) = r {
                for (from, to) in m.sorted(by: { $0.key < $1.key }) {
                    let at = JSONPointer.appending("/rename", from)
                    guard let toText = to.stringValue else { errors.append((at, "the new name is a JSON pointer string")); continue }
                    if let f = pointer(from, at), let t2 = pointer(toText, at) { t.rename.append((f, t2)) }
                }
            } else { errors.append(("/rename", "rename is an object {\"/from\": \"/to\"}")) }
        }
        if let d = o["drop"] {
            if case .array(let a) = d {
                for (i, v) in a.enumerated() {
                    if let s = v.stringValue, let p = pointer(s, "/drop/\(i)") { t.drop.append(p) }
                    else if v.stringValue == nil { errors.append(("/drop/\(i)", "a JSON pointer string")) }
                }
            } else { errors.append(("/drop", "drop is an array of JSON pointers")) }
        }
        if let s = o["set"] {
            if case .object(let m) = s {
                for (k, v) in m.sorted(by: { $0.key < $1.key }) {
                    if let p = pointer(k, JSONPointer.appending("/set", k)) { t.set.append((p, v)) }
                }
            } else { errors.append(("/set", "set is an object {\"/field\": value}")) }
        }
        return errors.isEmpty ? .success(t) : .failure(BuiltinParamErrors(errors))
    }

    public func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
        items.map { item in
            Result { () throws(NvisyError) -> [ProviderItem] in
                var m = try item.jsonMetadata()
                guard case .object = m else { throw NvisyError.invalidInput("map: item \(item.resumeTokenString) metadata is not an object") }
                for (from, to) in rename {
                    if let v = from.remove(from: &m), !to.set(v, in: &m) {
                        throw NvisyError.invalidInput("map: cannot set \(to) in item \(item.resumeTokenString)")
                    }
                }
                for p in drop { p.remove(from: &m) }
                for (p, v) in set where !p.set(v, in: &m) {
                    throw NvisyError.invalidInput("map: cannot set \(p) in item \(item.resumeTokenString)")
                }
                return [item.with(metadata: m)]
            }
        }
    }
}

/// `filter`: keeps the items whose metadata satisfies `params.where` (see ``Predicate``).
public struct FilterTransform: BuiltinTransform {
    public var predicate: Predicate

    public static let spec = BuiltinTransformSpec(name: "filter", accepts: nil, produces: nil) { params, _ in
        guard case .object(let o) = params, let w = o["where"] else {
            return .failure(BuiltinParamErrors("/where", "filter takes {\"where\": <predicate>}, e.g. {\"where\": {\">=\": [{\"var\": \"/age\"}, 18]}}"))
        }
        var errors: [(String, String)] = o.keys.filter { $0 != "where" }.map { ("/\($0)", "unknown key; filter takes where") }
        switch Predicate.parse(w, at: "/where") {
        case .success(let p): if errors.isEmpty { return .success(FilterTransform(predicate: p)) }
        case .failure(let e): errors += e.errors
        }
        return .failure(BuiltinParamErrors(errors))
    }

    public func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
        items.map { item in
            Result { () throws(NvisyError) -> [ProviderItem] in
                predicate.evaluate(try item.jsonMetadata(), payload: item.payload) ? [item] : []
            }
        }
    }
}
