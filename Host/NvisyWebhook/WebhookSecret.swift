import CSodium
import Foundation
import NvisyCore

/// A webhook signing secret: 32 random bytes, shown to the user once as `whsec_<base64>`.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    /// The prefix of the text form (the Standard Webhooks convention).
    public static let prefix = "whsec_"
    /// The HMAC key.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses `whsec_<base64>` (or bare base64).
    public init(_ text: String) throws(NvisyError) {
        let body = text.hasPrefix(Self.prefix) ? String(text.dropFirst(Self.prefix.count)) : text
        guard let data = Data(base64Encoded: body), data.count >= 24 else {
            throw NvisyError.invalidInput("a webhook secret is `whsec_` followed by the base64 of at least 24 bytes")
        }
        bytes = [UInt8](data)
    }

    /// 32 fresh random bytes (libsodium).
    public static func generate() throws(NvisyError) -> WebhookSecret {
        guard sodium_init() >= 0 else { throw NvisyError.internal("libsodium failed to initialise") }
        var bytes = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&bytes, bytes.count)
        return WebhookSecret(bytes: bytes)
    }

    /// `whsec_<base64>`: what the user copies into their receiver.
    public var text: String { Self.prefix + Data(bytes).base64EncodedString() }

    public var description: String { "WebhookSecret(<redacted>)" }
}
