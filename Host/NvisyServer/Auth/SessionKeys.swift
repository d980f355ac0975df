import Crypto
import Foundation
import JWTKit
import NvisyCore

/// The Ed25519 key pair that signs session JWTs, and the signing and verification of them.
///
/// Only EdDSA is accepted: a token whose header names any other algorithm (`none`, `HS256`
/// signed with the public key, ...) is rejected before its signature is looked at.
public struct SessionKeys: Sendable {
    let keys: JWTKeyCollection
    /// The public key, base64url (the JWK `x`).
    public let publicKeyX: String

    public init(privateKey: Curve25519.Signing.PrivateKey) async {
        let collection = JWTKeyCollection()
        await collection.add(eddsa: EdDSA.PrivateKey(backing: privateKey))
        keys = collection
        publicKeyX = privateKey.publicKey.rawRepresentation.base64URLEncodedString()
    }

    /// A throwaway key pair (tests).
    public static func ephemeral() async -> SessionKeys {
        await SessionKeys(privateKey: Curve25519.Signing.PrivateKey())
    }

    /// Loads the private key file (base64 of the 32-byte seed, or PEM), creating it with mode
    /// 0600 when it does not exist yet.
    public static func loadOrCreate(at path: String) async throws(NvisyError) -> (keys: SessionKeys, created: Bool) {
        if FileManager.default.fileExists(atPath: path) {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw NvisyError.invalidInput("cannot read the session key file \(path): \(error.localizedDescription)", pointer: "/jwt_key_file")
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            do {
                let key = trimmed.hasPrefix("-----")
                    ? try Curve25519.Signing.PrivateKey(pemRepresentation: trimmed)
                    : try Curve25519.Signing.PrivateKey(rawRepresentation: Data(base64Encoded: trimmed) ?? Data())
                return (await SessionKeys(privateKey: key), false)
            } catch {
                throw NvisyError.invalidInput("the session key file \(path) is not an Ed25519 private key (base64 of 32 bytes, or PEM); delete it to have a new one generated (this signs everyone out)", pointer: "/jwt_key_file")
            }
        }
        let key = Curve25519.Signing.PrivateKey()
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw NvisyError.internal("cannot create the session key file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let line = Array((key.rawRepresentation.base64EncodedString() + "\n").utf8)
        guard line.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == line.count else {
            throw NvisyError.internal("cannot write the session key file \(path)")
        }
        return (await SessionKeys(privateKey: key), true)
    }

    /// Signs the claims of a session.
    func sign(accountID: UUID, sessionID: UUID, issuedAt: Date, expiresAt: Date) async throws(NvisyError) -> String {
        let claims = SessionClaims(iss: .init(value: SessionClaims.issuer), aud: .init(value: [SessionClaims.audience]),
                                   sub: .init(value: accountID.uuidString.lowercased()), jti: .init(value: sessionID.uuidString.lowercased()),
                                   iat: .init(value: issuedAt), exp: .init(value: expiresAt))
        do {
            return try await keys.sign(claims)
        } catch {
            throw NvisyError.internal("cannot sign a session token: \(error)")
        }
    }

    /// The verified claims of a token, or an unauthorized error that says why not.
    func verify(_ token: String) async throws(NvisyError) -> SessionClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerData = Data(base64URLEncoded: String(parts[0])),
              let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any]
        else { throw NvisyError.unauthorized("the bearer token is malformed") }
        guard header["alg"] as? String == "EdDSA" else {
            throw NvisyError.unauthorized("the bearer token must be signed with EdDSA")
        }
        do {
            return try await keys.verify(token, as: SessionClaims.self)
        } catch {
            throw NvisyError.unauthorized("the session token is invalid or expired; log in again")
        }
    }
}

extension Data {
    func base64URLEncodedString() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(base64URLEncoded text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }
}
