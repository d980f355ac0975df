/// An error a provider throws; the kit turns it into an ABI status with a retry class.
///
/// Any other `Error` becomes a permanent failure with its description; a
/// `DecodingError` from the config becomes ``Kind/invalidConfig``.
public struct PluginError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Int32, Sendable {
        case transient = 1, permanent = 2, invalidConfig = 3, unauthorized = 4
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public static func transient(_ m: String) -> PluginError { PluginError(.transient, m) }
    public static func permanent(_ m: String) -> PluginError { PluginError(.permanent, m) }
    public static func invalidConfig(_ m: String) -> PluginError { PluginError(.invalidConfig, m) }
    public static func unauthorized(_ m: String) -> PluginError { PluginError(.unauthorized, m) }
    /// Thrown by ``CallContext/checkCancelled()``.
    public static let cancelled = PluginError(.transient, "cancelled by the host (timeout or caller cancelled)")
}
