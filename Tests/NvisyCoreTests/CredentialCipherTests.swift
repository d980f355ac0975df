import Foundation
import Testing

@testable import NvisyCore

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite("Credential crypto")
struct CredentialCipherTests {
    @Test("XChaCha20-Poly1305-IETF matches the draft-irtf-cfrg-xchacha test vector")
    func xchachaVector() throws {
        let plaintext = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        let aad = hex("50515253c0c1c2c3c4c5c6c7")
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        let nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657")
        let expected = hex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
                + "c0875924c1c7987947deafd8780acf49")
        let sealed = try CredentialCipher.xchachaSeal(plaintext, key: key, nonce: nonce, associatedData: aad)
        #expect(sealed == expected)
        #expect(try CredentialCipher.xchachaOpen(sealed, key: key, nonce: nonce, associatedData: aad) == plaintext)
    }

    @Test("HKDF-SHA256 matches RFC 5869 test cases 1 and 3")
    func hkdfVectors() {
        let okm1 = CredentialCipher.deriveKey(
            master: hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), salt: hex("000102030405060708090a0b0c"),
            info: hex("f0f1f2f3f4f5f6f7f8f9"), length: 42)
        #expect(okm1 == hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
        let okm3 = CredentialCipher.deriveKey(
            master: hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), salt: [], info: [], length: 42)
        #expect(okm3 == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
    }

    @Test("seal/open round trip; stored form is version ‖ 24-byte nonce ‖ ciphertext ‖ tag")
    func roundTrip() throws {
        let cipher = CredentialCipher(masterKey: try MasterKey.generate())
        let workspace = UUID.v7(), record = UUID.v7()
        let secret = Array(#"{"password":"hunter2"}"#.utf8)
        let sealed = try cipher.seal(secret, workspaceID: workspace, recordID: record)
        #expect(sealed.count == 1 + 24 + secret.count + 16)
        #expect(sealed[0] == CredentialCipher.formatVersion)
        #expect(try cipher.open(sealed, workspaceID: workspace, recordID: record) == secret)
        // A fresh nonce each time: sealing twice never gives the same bytes.
        #expect(try cipher.seal(secret, workspaceID: workspace, recordID: record) != sealed)
    }

    @Test("tampering, another workspace, another record or another master key all fail to open")
    func tamperAndWrongKeys() throws {
        let master = try MasterKey.generate()
        let cipher = CredentialCipher(masterKey: master)
        let workspace = UUID.v7(), record = UUID.v7()
        let sealed = try cipher.seal(Array("secret".utf8), workspaceID: workspace, recordID: record)
        for index in [1, 25, sealed.count - 1] {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(throws: NvisyError.self) { try cipher.open(tampered, workspaceID: workspace, recordID: record) }
        }
        #expect(throws: NvisyError.self) { try cipher.open(sealed, workspaceID: UUID.v7(), recordID: record) }
        #expect(throws: NvisyError.self) { try cipher.open(sealed, workspaceID: workspace, recordID: UUID.v7()) }
        let other = CredentialCipher(masterKey: try MasterKey.generate())
        #expect(throws: NvisyError.self) { try other.open(sealed, workspaceID: workspace, recordID: record) }
        #expect(throws: NvisyError.self) { try cipher.open(Array(sealed.prefix(20)), workspaceID: workspace, recordID: record) }
        #expect(cipher.workspaceKey(for: workspace) != cipher.workspaceKey(for: UUID.v7()))
    }
}

@Suite("Master key")
struct MasterKeyTests {
    @Test("generate writes a 0600 file that loads back; a second write is refused")
    func fileRoundTrip() throws {
        let path = NSTemporaryDirectory() + "nvisy-key-\(UUID().uuidString)/master.key"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let key = try MasterKey.generate()
        try key.write(to: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try MasterKey.load(from: path).bytes == key.bytes)
        #expect(throws: NvisyError.self) { try key.write(to: path) }
        #expect(!"\(key)".contains(key.base64))
    }

    @Test("a malformed or missing key file is an error naming the file")
    func malformed() throws {
        let path = NSTemporaryDirectory() + "nvisy-badkey-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "not base64 !!".write(toFile: path, atomically: true, encoding: .utf8)
        let bad = #expect(throws: NvisyError.self) { try MasterKey.load(from: path) }
        #expect(bad?.message.contains(path) == true)
        try Data(count: 16).base64EncodedString().write(toFile: path, atomically: true, encoding: .utf8)
        let short = #expect(throws: NvisyError.self) { try MasterKey.load(from: path) }
        #expect(short?.message.contains("32 bytes") == true)
        let missing = #expect(throws: NvisyError.self) { try MasterKey.load(from: path + ".nope") }
        #expect(missing?.message.contains("nvisy keys generate") == true)
    }
}
