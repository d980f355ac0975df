import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Synchronization
import Testing

@testable import NvisyServer

@Suite("API: connections")
struct ConnectionsTests {
    static let secret = "s3cr3t-pa55word-\(UUID().uuidString.prefix(8))"

    @Test("create, read, update, check, set credentials, delete; secrets never in an answer or a log line")
    func lifecycle() async throws {
        let fixture = try await ContentFixture.make("api_conn")
        let secret = Self.secret
        let root = TestPostgres.temporaryDirectory("fsroot")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try await fixture.base.database.client.query("CREATE TABLE things (id int PRIMARY KEY, name text)")
        let url = fixture.base.database.url
        let bodies = Mutex<[String]>([])
        try await fixture.app().test(.router) { client in
            let (token, _) = try await client.signup("conn-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token)

            // Validation: config against the provider's schema, pointer at the field.
            var answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                               json: ["name": "bad", "provider": "filesystem/files", "config": ["rooot": "/tmp"]])
            #expect(answer.status == .badRequest)
            let pointers = (answer.body["errors"] as? [[String: Any]])?.compactMap { $0["pointer"] as? String } ?? []
            #expect(pointers.contains("/config/root"), "\(answer.body)")
            answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                           json: ["name": "x", "provider": "nope/none", "config": [:]])
            #expect(answer.status == .badRequest)
            // Credentials checked against the credentials schema (password must be a string).
            answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                           json: ["name": "pg", "provider": "postgres/table", "config": ["url": url.withoutPassword, "table": "things", "key": "id"],
                                                  "credentials": ["password": 42]])
            #expect(answer.status == .badRequest)
            #expect(((answer.body["errors"] as? [[String: Any]])?.first?["pointer"] as? String) == "/credentials/password")

            // A filesystem connection: check passes, then fails once the root is gone.
            answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                           json: ["name": "files", "provider": "filesystem/files", "config": ["root": root.path]])
            #expect(answer.status == .created, "\(answer.body)")
            let files = try #require(answer.body["id"] as? String)
            answer = try await client.call(.post, "/api/v1/connections/\(files)/check", token: token)
            #expect(answer.status == .ok)
            #expect(answer.body["ok"] as? Bool == true, "\(answer.body)")
            answer = try await client.call(.patch, "/api/v1/connections/\(files)", token: token, json: ["config": ["root": root.path + "/missing"]])
            #expect(answer.status == .ok)
            answer = try await client.call(.post, "/api/v1/connections/\(files)/check", token: token)
            #expect(answer.body["ok"] as? Bool == false)
            let error = try #require(answer.body["error"] as? [String: Any])
            #expect(error["retry"] as? String == "permanent")
            #expect((error["message"] as? String)?.contains("not a directory") == true, "\(error)")

            // A postgres connection with a password: sealed, never shown, opened for check.
            answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                           json: ["name": "pg", "provider": "postgres/table", "config": ["url": url.withoutPassword, "table": "things", "key": "id"],
                                                  "credentials": ["password": secret]])
            #expect(answer.status == .created, "\(answer.body)")
            let pg = try #require(answer.body["id"] as? String)
            let creds = try #require(answer.body["credentials"] as? [String: Any])
            #expect(creds["set"] as? Bool == true)
            #expect(creds["fields"] as? [String] == ["password"])
            for path in ["/api/v1/connections/\(pg)", "/api/v1/workspaces/\(ws)/connections"] {
                let r = try await client.raw(.get, path, token: token)
                bodies.withLock { $0.append(String(buffer: r.body)) }
            }
            // A wrong password: the provider's error with its class, and no secret in the message.
            answer = try await client.call(.post, "/api/v1/connections/\(pg)/check", token: token)
            #expect(answer.body["ok"] as? Bool == false)
            let denied = try #require(answer.body["error"] as? [String: Any])
            #expect(denied["kind"] as? String == "unauthorized", "\(denied)")
            #expect(denied["retry"] as? String == "permanent")
            // The right password, set through PUT .../credentials: the check passes.
            let real = try #require(url.password)
            var r = try await client.raw(.put, "/api/v1/connections/\(pg)/credentials", token: token,
                                         body: ByteBuffer(string: "{\"password\":\"\(real)\"}"), headers: [.contentType: "application/json"])
            #expect(r.status == .ok)
            bodies.withLock { $0.append(String(buffer: r.body)) }
            answer = try await client.call(.post, "/api/v1/connections/\(pg)/check", token: token)
            #expect(answer.body["ok"] as? Bool == true, "\(answer.body)")

            // Stored sealed: the row holds no plaintext, opens only with its own id as AAD.
            let rows = try await fixture.base.database.client.query("SELECT credentials, key_id FROM connections WHERE id = \(UUID(uuidString: pg)!)")
            for try await (sealed, keyID) in rows.decode((ByteBuffer, String).self) {
                let bytes = Array(buffer: sealed)
                #expect(!String(decoding: bytes, as: UTF8.self).contains(url.password!))
                #expect(keyID == fixture.api.keyring!.currentKeyID)
                let plain = try fixture.api.keyring!.open(bytes, keyID: keyID, workspaceID: UUID(uuidString: ws)!, recordID: UUID(uuidString: pg)!)
                #expect(String(decoding: plain, as: UTF8.self).contains(url.password!))
                #expect(throws: NvisyError.self) {
                    try fixture.api.keyring!.open(bytes, keyID: keyID, workspaceID: UUID(uuidString: ws)!, recordID: UUID(uuidString: files)!)
                }
            }

            // Remove credentials.
            r = try await client.raw(.put, "/api/v1/connections/\(pg)/credentials", token: token,
                                     body: ByteBuffer(string: "{}"), headers: [.contentType: "application/json"])
            #expect(r.status == .ok)
            #expect(String(buffer: r.body).replacingOccurrences(of: " ", with: "").contains("\"set\":false"))
            answer = try await client.call(.delete, "/api/v1/connections/\(pg)", token: token)
            #expect(answer.status == .noContent)
            answer = try await client.call(.get, "/api/v1/connections/\(pg)", token: token)
            #expect(answer.status == .notFound)

            // Another workspace's owner: 404 on every connection route.
            let (other, _) = try await client.signup("other-\(UUID().uuidString.prefix(6))@example.com")
            answer = try await client.call(.get, "/api/v1/connections/\(files)", token: other)
            #expect(answer.status == .notFound)
            answer = try await client.call(.post, "/api/v1/connections/\(files)/check", token: other)
            #expect(answer.status == .notFound)
        }
        for body in bodies.withLock({ $0 }) {
            #expect(!body.contains(secret) && !body.contains(url.password!), "a response carried a secret: \(body)")
        }
        let logs = fixture.logs.text
        #expect(!logs.isEmpty)
        #expect(!logs.contains(secret) && !logs.contains(url.password!), "a log line carried a secret")
        await fixture.stop()
    }

    @Test("keyring: a rotation in progress opens both keys and seals with the new one")
    func keyringRotation() throws {
        let dir = TestPostgres.temporaryDirectory("ring")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("master.key").path
        let old = try MasterKey.generate()
        try old.write(to: path)
        let ring = CredentialKeyring(primary: old, primaryPath: path, pendingPath: path + ".next")
        let ws = UUID(), rec = UUID()
        let a = try ring.seal(Array("one".utf8), workspaceID: ws, recordID: rec)
        #expect(a.keyID == CredentialKeyring.keyID(of: old))
        let new = try MasterKey.generate()
        try new.write(to: path + ".next")
        let b = try ring.seal(Array("two".utf8), workspaceID: ws, recordID: rec)
        #expect(b.keyID == CredentialKeyring.keyID(of: new))
        #expect(try ring.open(a.sealed, keyID: a.keyID, workspaceID: ws, recordID: rec) == Array("one".utf8))
        #expect(try ring.open(b.sealed, keyID: b.keyID, workspaceID: ws, recordID: rec) == Array("two".utf8))
    }
}

extension DatabaseURL {
    /// The URL without its password (the password goes in credentials).
    var withoutPassword: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}
