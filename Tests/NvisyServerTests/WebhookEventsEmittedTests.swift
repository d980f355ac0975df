import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyServer

/// The API writes the webhook events of what it changes into the outbox: file.uploaded,
/// file.deleted, connection.check_failed (with the redacted message, never a credential).
@Suite("API: events for webhooks")
struct WebhookEventsEmittedTests {
    @Test("file.uploaded and file.deleted with the file's id; connection.check_failed without secrets")
    func events() async throws {
        let fixture = try await ContentFixture.make("api_events", nats: true)
        let client = fixture.base.database.client
        try await fixture.app().test(.router) { http in
            let (token, _) = try await http.signup("ev-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await http.workspace(token)
            let uploaded = try await http.raw(.post, "/api/v1/workspaces/\(ws)/files?name=a.txt", token: token, body: ByteBuffer(string: "a"))
            let file = try #require(try JSONSerialization.jsonObject(with: Data(buffer: uploaded.body)) as? [String: Any])["id"] as? String
            _ = try await http.call(.delete, "/api/v1/files/\(try #require(file))", token: token)
            let secret = "pw-\(UUID().uuidString)"
            let url = fixture.base.database.url
            var answer = try await http.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                             json: ["name": "pg", "provider": "postgres/table",
                                                    "config": ["url": url.withoutPassword, "table": "nope", "key": "id"], "credentials": ["password": secret]])
            let conn = try #require(answer.body["id"] as? String, "\(answer.body)")
            answer = try await http.call(.post, "/api/v1/connections/\(conn)/check", token: token)
            #expect(answer.body["ok"] as? Bool == false)

            let rows = try await client.query("SELECT type, payload::text FROM events WHERE workspace_id = \(UUID(uuidString: ws)!) ORDER BY created_at",
                                              logger: TestPostgres.logger)
            var events: [(String, String)] = []
            for try await (type, payload) in rows.decode((String, String).self) { events.append((type, payload)) }
            let types = events.map(\.0)
            #expect(types.contains("file.uploaded") && types.contains("file.deleted") && types.contains("connection.check_failed"), "\(types)")
            #expect(events.first { $0.0 == "file.deleted" }?.1.contains(file!) == true)
            let failed = try #require(events.first { $0.0 == "connection.check_failed" }?.1)
            #expect(failed.contains(conn))
            #expect(!failed.contains(secret), "no credential in an event")
        }
        await fixture.stop()
    }
}
