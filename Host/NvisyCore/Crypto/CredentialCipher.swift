import CSodium
import Crypto
import Foundation

/// Encrypts connection credentials at rest.
///
/// Each workspace has its own key, derived from the ``MasterKey`` with HKDF-SHA256
/// (salt = the workspace id's 16 bytes, info = ``keyInfo``). A record is sealed with
/// XChaCha20-Poly1305-IETF under a random 24-byte nonce, with the record's id as
/// associated data, so a ciphertext moved to another record or workspace fails to open.
/// Stored form: `version (1 byte) ‖ nonce (24) ‖ ciphertext ‖ tag (16)`.
public struct CredentialCipher: Sendable {
    /// The format version written as the first byte of every sealed value.
    public static let formatVersion: UInt8 = 1
    /// The HKDF info string: fixed, so derived keys never change meaning.
    public static let keyInfo = "nvisy credentials v1"
    static let nonceLength = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    static let tagLength = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)
    static let keyLength = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)

    private let masterKey: MasterKey

    public init(masterKey: MasterKey) {
        self.masterKey = masterKey
    }

    /// The 32-byte key of one workspace.
    public func workspaceKey(for workspaceID: UUID) -> [UInt8] {
        Self.deriveKey(master: masterKey.bytes, salt: workspaceID.bytes, info: Array(Self.keyInfo.utf8))
    }

    /// HKDF-SHA256 (RFC 5869) with a 32-byte output.
    static func deriveKey(master: [UInt8], salt: [UInt8], info: [UInt8], length: Int = 32) -> [UInt8] {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: master), salt: salt, info: info, outputByteCount: length)
        return key.withUnsafeBytes { [UInt8]($0) }
    }

    /// Seals `plaintext` for the record `recordID` in workspace `workspaceID`.
    public func seal(_ plaintext: [UInt8], workspaceID: UUID, recordID: UUID) throws(NvisyError) -> [UInt8] {
        let nonce = try Sodium.randomBytes(Self.nonceLength)
        let sealed = try Self.xchachaSeal(plaintext, key: workspaceKey(for: workspaceID), nonce: nonce,
                                          associatedData: recordID.bytes)
        return [Self.formatVersion] + nonce + sealed
    }

    /// Opens a value made by ``seal(_:workspaceID:recordID:)``; a tampered value, the wrong
    /// workspace or the wrong record fails with an error that reveals nothing of the contents.
    public func open(_ stored: [UInt8], workspaceID: UUID, recordID: UUID) throws(NvisyError) -> [UInt8] {
        guard stored.count >= 1 + Self.nonceLength + Self.tagLength else {
            throw NvisyError.invalidInput("sealed credentials are truncated")
        }
        guard stored[0] == Self.formatVersion else {
            throw NvisyError.invalidInput("sealed credentials have unknown format version \(stored[0])")
        }
        let nonce = Array(stored[1..<(1 + Self.nonceLength)])
        let body = Array(stored[(1 + Self.nonceLength)...])
        return try Self.xchachaOpen(body, key: workspaceKey(for: workspaceID), nonce: nonce,
                                    associatedData: recordID.bytes)
    }

    /// XChaCha20-Poly1305-IETF encryption: returns ciphertext ‖ tag.
    static func xchachaSeal(_ message: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws(NvisyError) -> [UInt8] {
        try Sodium.ensureInitialised()
        precondition(key.count == keyLength && nonce.count == nonceLength)
        var out = [UInt8](repeating: 0, count: message.count + tagLength)
        var outLength: UInt64 = 0
        let rc = crypto_aead_xchacha20poly1305_ietf_encrypt(
            &out, &outLength, message, UInt64(message.count), associatedData, UInt64(associatedData.count),
            nil, nonce, key)
        guard rc == 0 else { throw NvisyError.internal("credential encryption failed") }
        return Array(out.prefix(Int(outLength)))
    }

    /// XChaCha20-Poly1305-IETF decryption of ciphertext ‖ tag.
    static func xchachaOpen(_ sealed: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws(NvisyError) -> [UInt8] {
        try Sodium.ensureInitialised()
        precondition(key.count == keyLength && nonce.count == nonceLength)
        guard sealed.count >= tagLength else { throw NvisyError.invalidInput("sealed credentials are truncated") }
        var out = [UInt8](repeating: 0, count: sealed.count - tagLength)
        var outLength: UInt64 = 0
        let rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
            &out, &outLength, nil, sealed, UInt64(sealed.count), associatedData, UInt64(associatedData.count),
            nonce, key)
        guard rc == 0 else {
            throw NvisyError.invalidInput("credentials cannot be decrypted: wrong key, wrong record, or tampered data")
        }
        return Array(out.prefix(Int(outLength)))
    }
}

extension UUID {
    /// The 16 bytes of the UUID, in network order.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: uuid) { [UInt8]($0) }
    }
}
