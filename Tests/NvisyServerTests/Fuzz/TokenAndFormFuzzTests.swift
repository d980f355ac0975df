import Foundation
import NIOCore
import NvisyCore
import Testing

@testable import NvisyServer

/// Hostile session tokens (the JWT verifier) and multipart bodies (the streaming form reader).
@Suite("Fuzz: JWTs and multipart forms", .timeLimit(.minutes(20)))
struct TokenAndFormFuzzTests {
    static func b64(_ text: String) -> String { Data(text.utf8).base64URLEncodedString() }

    @Test("a mutated, forged or expired session token is refused as unauthorized, never accepted with other claims")
    func sessionTokens() async throws {
        let keys = await SessionKeys.ephemeral()
        let other = await SessionKeys.ephemeral()
        let account = UUID(), session = UUID()
        let now = Date()
        let valid = try await keys.sign(accountID: account, sessionID: session, issuedAt: now, expiresAt: now + 3600)
        let expired = try await keys.sign(accountID: account, sessionID: session, issuedAt: now - 7200, expiresAt: now - 3600)
        let foreign = try await other.sign(accountID: account, sessionID: session, issuedAt: now, expiresAt: now + 3600)
        let parts = valid.split(separator: ".").map(String.init)
        let payload = String(decoding: Data(base64URLEncoded: parts[1]) ?? Data(), as: UTF8.self)
        // Tokens built by hand: other algorithms, other claims under the real signature, broken JSON.
        let crafted = [
            Self.b64(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + ".",
            Self.b64(#"{"alg":"HS256","typ":"JWT"}"#) + "." + parts[1] + "." + parts[2],
            Self.b64(#"{"alg":"EdDSA","alg":"none"}"#) + "." + parts[1] + "." + parts[2],
            Self.b64(#"{"alg":"EdDSA","typ":"JWT"}"#) + "." + Self.b64(payload.replacingOccurrences(of: account.uuidString.lowercased(), with: UUID().uuidString.lowercased())) + "." + parts[2],
            Self.b64(#"{"alg":"EdDSA"}"#) + "." + Self.b64(#"{"exp":1e999,"sub":null}"#) + "." + parts[2],
            Self.b64(#"{"alg":"EdDSA"}"#) + "." + Self.b64("[" + String(repeating: "[", count: 10_000)) + "." + parts[2],
        ]
        let mutator = FuzzMutator(samples: [valid, valid, valid, expired, foreign] + crafted,
                                  tokens: [".", "..", "=", "-", "_", "+", "/", "eyJ", Self.b64(#"{"alg":"none"}"#)])
        var refused = 0
        await FuzzRun.cases("session token", 3_000) { rng, _ in
            let input = mutator.next(&rng)
            FuzzRun.remember("jwt", input)
            let token = String(decoding: input, as: UTF8.self)
            do {
                let claims = try await keys.verify(token)
                // Base64 tolerates a few non-canonical spellings of the same bytes; anything that
                // verifies must be the original session, unexpired.
                guard claims.sub.value == account.uuidString.lowercased(), claims.jti.value == session.uuidString.lowercased(),
                      claims.exp.value > Date() else {
                    throw FuzzFailure("a mutated token verified with other claims: \(claims)", input: input)
                }
            } catch let error as NvisyError {
                guard error.kind == .unauthorized, !error.message.isEmpty else {
                    throw FuzzFailure("verify threw \(error.kind): \(error)", input: input)
                }
                refused += 1
            }
        }
        #expect(refused > 2_400 * FuzzRun.scale)
        for token in [expired, foreign] + crafted {
            await #expect(throws: NvisyError.self, "\(token)") { try await keys.verify(token) }
        }
    }

    static let boundary = "fuzzB0undary"

    static func form(_ parts: [(String, String)], file: String) -> String {
        var text = "preamble\r\n"
        for (name, value) in parts { text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n" }
        text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"; filename*=UTF-8''%C3%A9.csv\r\nContent-Type: text/csv\r\n\r\n\(file)\r\n"
        return text + "--\(boundary)--\r\n"
    }

    static let forms = FuzzMutator(samples: [
        form([("name", "data.csv"), ("tags", "a,b")], file: "a,b\r\n1,2\r\n"),
        form([], file: "\r\n--\(boundary.dropLast())\r\n--x"),
        form([("tags", "")], file: String(repeating: "z", count: 3000)),
    ], tokens: ["\r\n--\(boundary)\r\n", "\r\n--\(boundary)--", "--\(boundary)", "Content-Disposition: form-data; name=\"", "; filename=\"",
                "filename*=UTF-8''%FF%00", "Content-Disposition: attachment\r\n", "\r\n\r\n", "name=\"file\"", "name=\"\""])

    @Test("multipart bodies in any chunking: parts or a 400-kind error about the form")
    func multipartReader() async throws {
        var complete = 0
        await FuzzRun.cases("multipart reader", 2_000) { rng, _ in
            let input = Self.forms.next(&rng)
            FuzzRun.remember("multipart", input)
            var chunks: [ByteBuffer] = []
            var offset = 0
            while offset < input.count {
                let n = min(input.count - offset, rng.pick([1, 2, 7, 64, 4096, 1 << 20]))
                chunks.append(ByteBuffer(bytes: input[offset..<(offset + n)]))
                offset += n
            }
            let contentType = rng.chance(0.95) ? "multipart/form-data; boundary=\(Self.boundary)"
                : rng.pick(["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\(String(repeating: "b", count: 71))\"", "text/plain"])
            do {
                let reader = try MultipartFormReader.make(body: byteStream(chunks), contentType: contentType)
                while let part = try await reader.nextPart() {
                    if part.name == "file" {
                        for try await _ in MultipartFileBody(reader: reader, partName: part.name) {}
                        try await reader.finish(after: "file")
                        break
                    }
                    _ = try await reader.text(max: 4096, field: part.name)
                }
                complete += 1
            } catch let error as NvisyError {
                guard error.kind == .invalidInput, error.message.hasPrefix("multipart/form-data:") else {
                    throw FuzzFailure("the reader threw \(error.kind): \(error)", input: input)
                }
            }
        }
        #expect(complete > 0)
    }
}
