import Foundation
import NvisyCore
import NvisyTestSupport
import PostgresNIO
import Testing

/// Known secrets go through a full scenario on the real binary (debug logging): passwords,
/// API token, connection credentials sent to a server that echoes them back in its errors,
/// webhook secrets (and header values, which may only not be logged). Afterwards no log line, no answer (beyond the one that
/// hands a generated secret out) and no database row holds any of them.
@Suite("secrets never leak", .serialized)
struct SecretsLeakEndToEndTests {
    @Test func noSecretInLogsAnswersOrTheDatabase() async throws {
        let harness = try await ServeHarness.make("e2e_secrets")
        try await harness.start()
        let tag = UUID().uuidString.prefix(8)
        let password = "Pass-\(tag)-first", newPassword = "Pass-\(tag)-second", wrongPassword = "Wrong-\(tag)-guess"
        let apiKey = "sk-known-\(tag)-one", newApiKey = "sk-known-\(tag)-two", headerValue = "hdr-\(tag)-value"
        let email = "leak-\(tag)@example.com"

        // Accounts: signup, a wrong login, a password change.
        let signup = try await harness.request("POST", "/api/v1/auth/signup", json: ["email": email, "password": password, "displayName": "Leak"])
        var token = try #require(signup.body["token"] as? String, "\(signup)")
        #expect(try await harness.request("POST", "/api/v1/auth/login", json: ["email": email, "password": wrongPassword]).status == 401)
        let changed = try await harness.request("PATCH", "/api/v1/account", token: token, json: ["password": newPassword, "currentPassword": password])
        #expect(changed.status == 200, "\(changed)")
        let login = try await harness.request("POST", "/api/v1/auth/login", json: ["email": email, "password": newPassword])
        token = try #require(login.body["token"] as? String, "\(login)")

        // An API token, used once.
        let created = try await harness.request("POST", "/api/v1/api-tokens", token: token, json: ["name": "ci"])
        let apiToken = try #require(created.body["token"] as? String, "\(created)")
        #expect(try await harness.request("GET", "/api/v1/workspaces", token: apiToken).status == 200)
        let ws = try await harness.request("POST", "/api/v1/workspaces", token: token, json: ["name": "leaks"])
        let workspace = try #require(ws.body["id"] as? String, "\(ws)")

        // A model connection whose server answers 401 and repeats the key it was sent.
        let port = try FreePort.loopback()
        let server = try ChildProcess.spawn(ServeHarness.venv + "/bin/python",
                                            arguments: [ServeHarness.repoRoot.appendingPathComponent("python/tests/fixtures/openai_servers.py").path,
                                                        "status", "--status", "401", "--echo-auth", "--port", "\(port)"],
                                            purpose: "echoing model server")
        defer { kill(server, SIGKILL) }
        for _ in 0..<100 where !FreePort.isListening(port) { try await Task.sleep(for: .milliseconds(100)) }
        let connection = try await harness.connection(token, workspace, [
            "name": "model", "provider": "openai/chat", "config": ["baseURL": "http://127.0.0.1:\(port)/v1", "model": "m", "maxRetries": 0],
            "credentials": ["apiKey": apiKey],
        ])
        let denied = try await harness.check(token, connection)
        #expect(!denied.ok)
        #expect(denied.error?["kind"] as? String == "unauthorized", "\(String(describing: denied.error))")
        let patched = try await harness.request("PATCH", "/api/v1/connections/\(connection)", token: token, json: ["credentials": ["apiKey": newApiKey]])
        #expect(patched.status == 200, "\(patched)")
        #expect(try await !harness.check(token, connection).ok)

        // A webhook with a secret header, and a secret rotation.
        let hook = try await harness.request("POST", "/api/v1/workspaces/\(workspace)/webhooks", token: token, json: [
            "url": "https://hooks.invalid/nvisy", "eventTypes": ["*"], "headers": ["X-Api-Key": headerValue],
        ])
        let webhookSecret = try #require(hook.body["secret"] as? String, "\(hook)")
        let hookID = try #require((hook.body["webhook"] as? [String: Any])?["id"] as? String ?? hook.body["id"] as? String, "\(hook)")
        let rotated = try await harness.request("POST", "/api/v1/webhooks/\(hookID)/rotate-secret", token: token)
        let rotatedSecret = try #require(rotated.body["secret"] as? String, "\(rotated)")
        _ = try await harness.request("GET", "/api/v1/webhooks/\(hookID)", token: token)
        _ = try await harness.request("GET", "/api/v1/workspaces/\(workspace)/webhooks", token: token)
        _ = try await harness.request("GET", "/api/v1/workspaces/\(workspace)/connections", token: token)
        _ = try await harness.request("GET", "/api/v1/api-tokens", token: token)

        let rows = try await Self.everyRow(harness.database.client)
        await harness.shutdown()
        let logs = harness.logText, answers = harness.answers
        #expect(!logs.isEmpty && !rows.isEmpty)

        let neverShown = ["password": password, "new password": newPassword, "wrong password": wrongPassword, "api key": apiKey,
                          "new api key": newApiKey]
        let shownOnce = ["api token": apiToken, "webhook secret": webhookSecret, "rotated webhook secret": rotatedSecret]
        // JSON answers may escape "/" (base64): look for both spellings.
        let answerText = answers.replacingOccurrences(of: "\\/", with: "/")
        for (name, secret) in neverShown.merging(shownOnce, uniquingKeysWith: { a, _ in a }) {
            let inLogs = logs.contains(secret), inRows = rows.contains(secret) || rows.contains(Self.hex(secret))
            #expect(!inLogs, "the \(name) is in a log line")
            #expect(!inRows, "the \(name) is stored in plain text")
        }
        // Custom webhook header values are configuration (shown to the workspace's admins, stored
        // like the URL), but still never logged.
        #expect(!logs.contains(headerValue), "a webhook header value is in a log line")
        for (name, secret) in neverShown {
            let inAnswers = answerText.contains(secret)
            #expect(!inAnswers, "the \(name) is in an answer")
        }
        for (name, secret) in shownOnce {
            let times = answerText.components(separatedBy: secret).count - 1
            #expect(times == 1, "the \(name) is shown \(times) times, not once")
        }
    }

    /// Every row of every table of the schema, as text.
    static func everyRow(_ client: PostgresClient) async throws -> String {
        var tables: [String] = []
        for try await name in try await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").decode(String.self) {
            tables.append(name)
        }
        var text = ""
        for table in tables {
            let quoted = "\"" + table.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            for try await row in try await client.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(quoted) t")).decode(String.self) {
                text += row + "\n"
            }
        }
        return text
    }

    static func hex(_ text: String) -> String {
        text.utf8.map { String(format: "%02x", $0) }.joined()
    }
}
