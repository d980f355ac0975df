import Foundation
import Hummingbird
import Logging
import NvisyCore
import NvisyNATS
import NvisyPostgres
import NvisyTestSupport
import NvisyWebhook
import PostgresNIO
import Synchronization

/// One request the receiver got: its headers and the raw body bytes.
struct Received: Sendable {
    var headers: [String: String]
    var body: [UInt8]
    var at: Date
}

/// A real HTTP server on loopback that records every request and answers from a script.
final class Receiver: Sendable {
    private let state = Mutex<(requests: [Received], script: [(Int, [String: String])], fallback: Int)>(([], [], 200))
    private let task: Task<Void, any Error>
    let port: Int

    var url: String { "http://127.0.0.1:\(port)/hook" }

    /// Answers `script` in order (status, extra headers), then `fallback` for every later request.
    static func start(script: [(Int, [String: String])] = [], fallback: Int = 200) async throws -> Receiver {
        let portBox = Mutex<Int?>(nil)
        let box = ReceiverBox()
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let (code, extra) = box.receiver!.answer(Received(headers: headers, body: Array(buffer.readableBytesView), at: Date()))
            var fields = HTTPFields()
            for (name, value) in extra { fields[.init(name)!] = value }
            return Response(status: HTTPResponse.Status(code: code), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok")))
        }
        var logger = Logger(label: "receiver")
        logger.logLevel = .critical   // "Server shutdown error: Already closed" on cancellation is noise
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in portBox.withLock { $0 = channel.localAddress?.port } }, logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var port: Int?
        for _ in 0..<200 {
            port = portBox.withLock { $0 }
            if port != nil { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let receiver = Receiver(task: task, port: try require(port))
        receiver.state.withLock { $0.script = script; $0.fallback = fallback }
        box.receiver = receiver
        return receiver
    }

    private init(task: Task<Void, any Error>, port: Int) {
        self.task = task
        self.port = port
    }

    fileprivate func answer(_ request: Received) -> (Int, [String: String]) {
        state.withLock { s in
            s.requests.append(request)
            return s.script.isEmpty ? (s.fallback, [:]) : s.script.removeFirst()
        }
    }

    var requests: [Received] { state.withLock { $0.requests } }

    /// Waits until at least `count` requests arrived (or `timeout`), returns them.
    func wait(for count: Int, timeout: Duration = .seconds(10)) async throws -> [Received] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let got = requests
            if got.count >= count { return got }
            try await Task.sleep(for: .milliseconds(20))
        }
        return requests
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

private final class ReceiverBox: @unchecked Sendable {
    var receiver: Receiver?
}

private func require<T>(_ value: T?) throws -> T {
    guard let value else { throw NvisyError.internal("receiver did not start") }
    return value
}

/// A database with the schema, a NATS server, a workspace, and the webhook machinery.
struct WebhookEnv {
    let database: NvisyDatabase
    let pool: Task<Void, Never>
    let nats: EmbeddedNATSServer
    let natsDir: URL
    let connection: NATSConnection
    let webhooks: Webhooks
    let workspaceID: UUID
    let settings: WebhookSettings
    var logger: Logger { TestPostgres.logger }
    var client: PostgresClient { database.client }

    static let testSettings: WebhookSettings = {
        var s = WebhookSettings()
        s.retrySchedule = [.milliseconds(300), .milliseconds(600), .milliseconds(900)]
        s.jitter = 0
        s.allowPrivateAddresses = true        // the receiver is on loopback
        s.dispatchInterval = .milliseconds(50)
        s.timeout = .seconds(3)
        return s
    }()

    static func make(_ configure: (inout WebhookSettings) -> Void = { _ in }) async throws -> WebhookEnv {
        let url = try await TestPostgres.freshDatabase("wh")
        let database = NvisyDatabase(url: try DatabaseURL(url), logger: TestPostgres.logger)
        let pool = Task { await database.client.run() }
        try await database.migrate()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-wh-nats-\(UUID().uuidString)")
        let nats = EmbeddedNATSServer(storeDirectory: dir, logger: TestPostgres.logger)
        try await nats.start()
        let connection = try await NATSConnection.connect(url: await nats.url, timeout: .seconds(5), logger: TestPostgres.logger)
        var settings = testSettings
        configure(&settings)
        let keyring = CredentialKeyring(primary: try MasterKey.generate())
        let webhooks = Webhooks(client: database.client, keyring: keyring, settings: settings,
                                logger: TestPostgres.logger)
        let accountID = UUID.v7()
        let workspaceID = UUID.v7()
        try await database.client.query("""
            INSERT INTO accounts (id, email, email_key, display_name, password_hash)
            VALUES (\(accountID), 'a@example.com', 'a@example.com', 'A', 'x')
            """, logger: TestPostgres.logger)
        try await database.client.query("INSERT INTO workspaces (id, name, created_by) VALUES (\(workspaceID), 'ws', \(accountID))",
                                        logger: TestPostgres.logger)
        return WebhookEnv(database: database, pool: pool, nats: nats, natsDir: dir, connection: connection, webhooks: webhooks,
                          workspaceID: workspaceID, settings: settings)
    }

    /// Runs a `WebhookService` (a "host") until `body` returns.
    func withService<T>(_ body: () async throws -> T) async throws -> T {
        let service = WebhookService(webhooks: webhooks, jetStream: connection.jetStream, logger: logger)
        let task = Task { try await service.run() }
        defer { task.cancel() }
        let result = try await body()
        task.cancel()
        _ = try? await task.value
        return result
    }

    /// Writes an event in a transaction, like a change in another module would.
    @discardableResult
    func emit(_ type: String, data: String = #"{"runId":"0190a0a0-0000-7000-8000-000000000001"}"#) async throws -> OutboxEvent {
        let event = OutboxEvent(workspaceID: workspaceID, type: type, dataJSON: data)
        try await client.withTransaction(logger: logger) { connection in
            try await Outbox.record(event, on: connection, logger: logger)
        }
        return event
    }

    func stop() async {
        await connection.close()
        await nats.stop()
        try? FileManager.default.removeItem(at: natsDir)
        pool.cancel()
        await pool.value
    }
}

/// A Standard Webhooks verifier written independently of NvisyWebhook: parse `whsec_`,
/// recompute HMAC-SHA256 over "{id}.{timestamp}.{raw body}", compare with every `v1,` entry.
import Crypto
enum ReferenceVerifier {
    static func verify(secret: String, headers: [String: String], body: [UInt8]) -> Bool {
        guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst(6))),
              let id = headers["webhook-id"], let ts = headers["webhook-timestamp"], let sigs = headers["webhook-signature"],
              let seconds = Int(ts), abs(Int(Date().timeIntervalSince1970) - seconds) < 300 else { return false }
        var signed = Data("\(id).\(ts).".utf8)
        signed.append(contentsOf: body)
        let expected = Data(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))).base64EncodedString()
        return sigs.split(separator: " ").contains { entry in
            let parts = entry.split(separator: ",", maxSplits: 1)
            return parts.count == 2 && parts[0] == "v1" && parts[1] == expected
        }
    }
}

/// Polls `condition` until true or `timeout`.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
