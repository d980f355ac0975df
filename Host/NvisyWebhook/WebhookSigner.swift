import Crypto
import Foundation

/// Standard Webhooks signatures (https://www.standardwebhooks.com):
/// `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, one per
/// secret, space-separated (two during a secret rotation).
public enum WebhookSigner {
    /// The three headers of a signed request.
    public static let idHeader = "webhook-id"
    public static let timestampHeader = "webhook-timestamp"
    public static let signatureHeader = "webhook-signature"

    /// `v1,<base64>` for one secret.
    public static func signature(id: String, timestamp: Int, body: [UInt8], secret: WebhookSecret) -> String {
        var message = Array("\(id).\(timestamp).".utf8)
        message.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret.bytes))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The `webhook-signature` header value: one signature per secret, space-separated.
    public static func header(id: String, timestamp: Int, body: [UInt8], secrets: [WebhookSecret]) -> String {
        secrets.map { signature(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }

    /// Whether `header` holds a valid `v1` signature by `secret` and `timestamp` is within
    /// `tolerance` seconds of `now` (what a receiver checks).
    public static func verify(id: String, timestamp: Int, body: [UInt8], header: String, secret: WebhookSecret,
                              now: Date = Date(), tolerance: Int = 300) -> Bool {
        guard abs(Int(now.timeIntervalSince1970) - timestamp) <= tolerance else { return false }
        let expected = Data(signature(id: id, timestamp: timestamp, body: body, secret: secret).utf8)
        return header.split(separator: " ").contains { candidate in
            let given = Data(candidate.utf8)
            // Constant time for equal lengths.
            guard given.count == expected.count else { return false }
            return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
        }
    }
}
