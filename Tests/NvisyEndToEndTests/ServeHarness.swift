import Foundation
import NvisyCore
import NvisyNATS
import NvisyPostgres
import NvisyTestSupport
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `nvisy serve` as an operator runs it against an outside PostgreSQL (a fresh TestPostgres
/// database) and an outside nats-server, with the repository's plugins.d, its log in a file.
/// Every HTTP answer it gives through ``request(_:_:token:json:)`` is kept, so a test can
/// search answers and logs for secrets.
final class ServeHarness: Sendable {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var venv: String {
        ProcessInfo.processInfo.environment["NVISY_VENV"].flatMap { $0.isEmpty ? nil : $0 } ?? repoRoot.appendingPathComponent(".venv").path
    }

    let dataDir: URL
    let databaseURL: String
    let database: NvisyDatabase
    let nats: NATSRuntime
    let port: Int
    private let pool: Task<Void, Never>
    private let bodies = Mutex<[String]>([])
    private let serving = Mutex<pid_t?>(nil)
    private let logs = Mutex<[String]>([])

    private init(dataDir: URL, databaseURL: String, database: NvisyDatabase, nats: NATSRuntime, port: Int, pool: Task<Void, Never>) {
        self.dataDir = dataDir
        self.databaseURL = databaseURL
        self.database = database
        self.nats = nats
        self.port = port
        self.pool = pool
    }

    static func make(_ prefix: String) async throws -> ServeHarness {
        let url = try await TestPostgres.freshDatabase(prefix)
        let database = NvisyDatabase(url: try DatabaseURL(url), logger: TestPostgres.logger)
        let pool = Task { await database.client.run() }
        let dir = TestPostgres.temporaryDirectory(prefix)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let nats = try await NATSRuntime.start(url: nil, storeDirectory: dir.appendingPathComponent("nats-outside"), logger: TestPostgres.logger)
        return ServeHarness(dataDir: dir.appendingPathComponent("data"), databaseURL: url, database: database, nats: nats,
                            port: try FreePort.loopback(), pool: pool)
    }

    /// The flags every command gets: this harness's data dir, database, NATS, plugins and venv.
    var common: [String] {
        get async {
            ["--data-dir", dataDir.path, "--database-url", databaseURL, "--nats-url", await nats.embeddedServer!.url,
             "--plugins-dir", Self.repoRoot.appendingPathComponent("plugins.d").path, "--venv", Self.venv]
        }
    }

    /// Starts `nvisy serve` (debug logging into a new log file) and waits until /health answers 200.
    func start() async throws {
        let log = dataDir.deletingLastPathComponent().appendingPathComponent("serve-\(UUID().uuidString.prefix(6)).log").path
        logs.withLock { $0.append(log) }
        let fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NvisyError.internal("cannot create \(log)") }
        defer { close(fd) }
        let pid = try ChildProcess.spawn(NvisyBinary.path, arguments: ["serve"] + (await common) + ["--port", "\(port)", "--log-level", "debug"],
                                         environment: Self.environment, stdoutFD: fd, purpose: "nvisy serve")
        serving.withLock { $0 = pid }
        for _ in 0..<480 {
            if let health = await NvisyBinary.get(port: port, path: "/health"), health.status == 200 { return }
            guard ChildProcess.isRunning(pid) else { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw NvisyError.unavailable("nvisy serve did not become healthy; its log:\n\(logText)")
    }

    /// SIGINT to the server, and waits for it to exit.
    func stop() async {
        guard let pid = serving.withLock({ current in defer { current = nil }; return current }) else { return }
        kill(pid, SIGINT)
        if await ChildProcess.wait(pid, timeout: .seconds(60)) == nil { kill(pid, SIGKILL) }
    }

    /// Stops everything this harness started.
    func shutdown() async {
        await stop()
        await nats.shutdown()
        pool.cancel()
        await pool.value
    }

    /// The environment for the binary: this process's, without NVISY_ settings (flags say it all).
    static var environment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NVISY_") }
    }

    /// Every server log so far, joined.
    var logText: String {
        logs.withLock { $0 }.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined(separator: "\n")
    }

    /// Every answer body so far, joined.
    var answers: String { bodies.withLock { $0.joined(separator: "\n") } }

    /// One HTTP request; returns the status and the JSON object answered (empty if none).
    @discardableResult
    func request(_ method: String, _ path: String, token: String? = nil, json: Any? = nil) async throws -> (status: Int, body: [String: Any]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 60
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let text = String(decoding: data, as: UTF8.self)
        bodies.withLock { $0.append(text) }
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, object)
    }

    /// Signs up a new account and creates a workspace: (token, workspace id).
    func owner() async throws -> (token: String, workspace: String) {
        let signup = try await request("POST", "/api/v1/auth/signup",
                                       json: ["email": "e2e-\(UUID().uuidString.prefix(8))@example.com", "password": "correct horse battery", "displayName": "E2E"])
        guard let token = signup.body["token"] as? String else { throw NvisyError.internal("signup: \(signup)") }
        let ws = try await request("POST", "/api/v1/workspaces", token: token, json: ["name": "e2e"])
        guard let id = ws.body["id"] as? String else { throw NvisyError.internal("workspace: \(ws)") }
        return (token, id)
    }

    /// Creates a connection and returns its id.
    func connection(_ token: String, _ workspace: String, _ body: [String: Any]) async throws -> String {
        let answer = try await request("POST", "/api/v1/workspaces/\(workspace)/connections", token: token, json: body)
        guard answer.status == 201, let id = answer.body["id"] as? String else { throw NvisyError.internal("create connection: \(answer)") }
        return id
    }

    /// `POST /api/v1/connections/{id}/check`: ok, and the error object when not.
    func check(_ token: String, _ id: String) async throws -> (ok: Bool, error: [String: Any]?) {
        let answer = try await request("POST", "/api/v1/connections/\(id)/check", token: token)
        return (answer.body["ok"] as? Bool ?? false, answer.body["error"] as? [String: Any])
    }
}
