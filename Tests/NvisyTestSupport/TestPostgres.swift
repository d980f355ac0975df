import Foundation
import Logging
import NvisyCore
import NvisyPostgres
import Synchronization

/// One embedded PostgreSQL per test process, started on first use through the same code the
/// host uses, and a fresh database for each suite. Stopped when the process exits.
public enum TestPostgres {
    private static let server = ServerBox()

    /// The shared server, started on first call.
    public static func shared() async throws -> EmbeddedPostgres {
        try await server.get()
    }

    /// A new, empty database on the shared server; returns its URL.
    public static func freshDatabase(_ prefix: String = "t") async throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        return try await shared().createDatabase(named: name)
    }

    /// A logger for tests: warnings and worse only, unless `NVISY_TEST_LOG=debug`.
    public static var logger: Logger {
        var logger = Logger(label: "nvisy.test")
        logger.logLevel = ProcessInfo.processInfo.environment["NVISY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }

    /// A new private temporary folder that the unprivileged PostgreSQL user can reach. Every one
    /// lives under this process's own folder, removed when the process exits, so test runs do not
    /// leave JetStream stores and key files behind in /tmp.
    public static func temporaryDirectory(_ prefix: String) -> URL {
        let url = ExitCleanup.processDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return url
    }
}

private actor ServerBox {
    private var task: Task<EmbeddedPostgres, any Error>?

    func get() async throws -> EmbeddedPostgres {
        if let task { return try await task.value }
        let task = Task {
            let dir = TestPostgres.temporaryDirectory("nvisy-test-pg")
            let server = try await EmbeddedPostgres.start(dataDirectory: dir, logger: TestPostgres.logger)
            ExitCleanup.register(dataPath: server.dataPath)
            return server
        }
        self.task = task
        return try await task.value
    }
}

/// Stops the shared server when the test process exits (Swift Testing has no global teardown).
enum ExitCleanup {
    private static let state = Mutex<(dataPath: String?, registered: Bool)>((nil, false))

    /// `/tmp/nvisy-tests-<pid>`: the parent of every temporary folder this process makes.
    static let processDirectory: URL = {
        let url = URL(fileURLWithPath: "/tmp").appendingPathComponent("nvisy-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        registerOnce()
        return url
    }()

    /// Stops the shared PostgreSQL whose cluster lives at `dataPath` when the process exits.
    static func register(dataPath: String) {
        state.withLock { $0.dataPath = dataPath }
        registerOnce()
    }

    private static func registerOnce() {
        let first = state.withLock { s -> Bool in
            defer { s.registered = true }
            return !s.registered
        }
        guard first else { return }
        atexit {
            if let dataPath = ExitCleanup.state.withLock({ $0.dataPath }),
               let pidText = try? String(contentsOfFile: dataPath + "/postmaster.pid", encoding: .utf8),
               let first = pidText.split(separator: "\n").first, let pid = Int32(first) {
                // The cluster's postmaster.pid names the server: SIGQUIT is PostgreSQL's immediate shutdown.
                kill(pid, SIGQUIT)
                for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
            }
            try? FileManager.default.removeItem(at: ExitCleanup.processDirectory)
        }
    }
}
