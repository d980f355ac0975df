import NvisyCore

/// An RFC 6901 JSON pointer (`/a/b~1c/0`) into item metadata.
public struct JSONPointer: Sendable, Hashable, CustomStringConvertible {
    public let tokens: [String]

    /// Parses `text`; nil when it is neither empty (the whole value) nor starts with `/`.
    public init?(_ text: String) {
        if text.isEmpty { tokens = []; return }
        guard text.hasPrefix("/") else { return nil }
        tokens = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    public var description: String {
        tokens.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined()
    }

    /// The value at this pointer, or nil when there is none.
    public func get(_ value: JSONValue) -> JSONValue? {
        var current = value
        for t in tokens {
            switch current {
            case .object(let o):
                guard let next = o[t] else { return nil }
                current = next
            case .array(let a):
                guard let i = Int(t), a.indices.contains(i) else { return nil }
                current = a[i]
            default:
                return nil
            }
        }
        return current
    }

    /// Sets the value at this pointer, creating objects on the way. Fails on a scalar on the way.
    public func set(_ new: JSONValue, in value: inout JSONValue) -> Bool {
        Self.set(tokens[...], new, in: &value)
    }

    private static func set(_ tokens: ArraySlice<String>, _ new: JSONValue, in value: inout JSONValue) -> Bool {
        guard let t = tokens.first else { value = new; return true }
        switch value {
        case .object(var o):
            var child = o[t] ?? .object([:])
            guard set(tokens.dropFirst(), new, in: &child) else { return false }
            o[t] = child
            value = .object(o)
            return true
        case .array(var a):
            if t == "-", tokens.count == 1 { a.append(new); value = .array(a); return true }
            guard let i = Int(t), a.indices.contains(i) else { return false }
            guard set(tokens.dropFirst(), new, in: &a[i]) else { return false }
            value = .array(a)
            return true
        case .null where tokens.count >= 1:
            var child = JSONValue.object([:])
            guard set(tokens, new, in: &child) else { return false }
            value = child
            return true
        default:
            return false
        }
    }

    /// Removes the value at this pointer; answers it (nil when there was none).
    @discardableResult
    public func remove(from value: inout JSONValue) -> JSONValue? {
        Self.remove(tokens[...], from: &value)
    }

    private static func remove(_ tokens: ArraySlice<String>, from value: inout JSONValue) -> JSONValue? {
        guard let t = tokens.first else { return nil }
        switch value {
        case .object(var o):
            if tokens.count == 1 {
                let old = o.removeValue(forKey: t)
                value = .object(o)
                return old
            }
            guard var child = o[t] else { return nil }
            let old = remove(tokens.dropFirst(), from: &child)
            o[t] = child
            value = .object(o)
            return old
        case .array(var a):
            guard let i = Int(t), a.indices.contains(i) else { return nil }
            if tokens.count == 1 {
                let old = a.remove(at: i)
                value = .array(a)
                return old
            }
            let old = remove(tokens.dropFirst(), from: &a[i])
            value = .array(a)
            return old
        default:
            return nil
        }
    }

    /// `prefix` + this pointer's text escaped as one more token (for problem pointers).
    static func appending(_ prefix: String, _ token: String) -> String {
        prefix + "/" + token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
