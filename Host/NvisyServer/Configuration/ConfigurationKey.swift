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

        var expectation: String {
            switch self {
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
