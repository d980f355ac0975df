/// One setting of `nvisy serve`: its name in each layer, its type and its default.
///
/// The same key is `port` in nvisy.toml, `NVISY_PORT` in the environment and `--port` on the
/// command line; ``ServerConfiguration/keys`` lists them all (the README's table mirrors it).
public struct ConfigurationKey: Sendable, Hashable {
    /// The value types a setting can have; a value of another type is an error naming the key.
    public enum ValueType: Sendable, Hashable {
        case string
        /// An integer in a closed range.
        case integer(ClosedRange<Int>)
        /// One of a fixed set of words.
        case oneOf([String])
        case boolean
        /// A comma-separated list of durations such as `5s,30s,2m,1h` (units s, m, h, d).
        case durations

        var expectation: String {
            switch self {
            case .durations: "a comma-separated list of durations such as 5s,30s,2m,1h"
            case .string: "a string"
            case .integer(let range): "an integer from \(range.lowerBound) to \(range.upperBound)"
            case .oneOf(let words): "one of " + words.joined(separator: ", ")
            case .boolean: "true or false"
            }
        }
    }

    /// The key in nvisy.toml (snake_case).
    public var name: String
    public var type: ValueType
    /// The default, or nil when the setting is optional and unset by default.
    public var defaultValue: String?
    /// One line for `--help` and the README.
    public var help: String
    /// Whether the value is secret (never echoed back in errors or logs).
    public var isSecret: Bool

    public init(_ name: String, _ type: ValueType, default defaultValue: String? = nil, secret: Bool = false, help: String) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.help = help
        self.isSecret = secret
    }

    /// `NVISY_PORT` for `port`.
    public var environmentName: String { "NVISY_" + name.uppercased() }
    /// `--port` for `port`, `--data-dir` for `data_dir`.
    public var flagName: String { "--" + name.replacingOccurrences(of: "_", with: "-") }
}

/// Parses `5s,30s,2m,1h,1d` (each positive, at most 50, at most 30 days each); nil when malformed.
public func parseDurationList(_ text: String) -> [Duration]? {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    guard !parts.isEmpty, parts.count <= 50 else { return nil }
    var out: [Duration] = []
    for part in parts {
        guard let unit = part.last, let number = Int64(part.dropLast()), number > 0 else { return nil }
        let seconds: Int64
        switch unit {
        case "s": seconds = number
        case "m": seconds = number * 60
        case "h": seconds = number * 3600
        case "d": seconds = number * 86400
        default: return nil
        }
        guard seconds <= 30 * 86400 else { return nil }
        out.append(.seconds(seconds))
    }
    return out
}
