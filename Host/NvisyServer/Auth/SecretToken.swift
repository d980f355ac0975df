import CSodium
import Foundation
import NvisyCore

/// Random secrets shown once and stored as a SHA-256: API tokens (`nvisy_…`) and invite codes.
public enum SecretToken {
    /// The prefix that tells an API token from a JWT.
    public static let apiTokenPrefix = "nvisy_"

    /// A new secret: `prefix` + 32 random bytes, base64url.
    public static func generate(prefix: String) -> String {
        _ = sodium_init()
        var bytes = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&bytes, bytes.count)
        return prefix + Data(bytes).base64URLEncodedString()
    }

    /// What is stored of a secret: its SHA-256, hex (the secret has 256 bits of entropy, so a
    /// fast hash is enough).
    public static func hash(_ secret: String) -> String {
        Checksum.sha256Hex(Array(secret.utf8))
    }
}
