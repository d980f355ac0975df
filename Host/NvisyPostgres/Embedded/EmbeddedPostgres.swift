import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// A PostgreSQL server (with pgvector) that the host runs itself: the embedded default when
/// no `--database-url` is given, and the real database every test talks to.
///
/// Start it with ``start(options:logger:)``; it initialises the cluster on first use, listens on
/// a free loopback port with password authentication, and runs as the unprivileged `nvisy`
/// user when the host is root. ``stop()`` shuts it down; nothing is left running.
public actor EmbeddedPostgres {
    /// How to start the server.
    public struct Options: Sendable {
        /// The folder for everything PostgreSQL keeps (`<data dir>/postgres`).
        public var directory: URL
        public var binaries: PostgresBinaries
        /// The unprivileged account used when the host runs as root.
        public var serviceUser: String
        /// The database the host uses.
        public var database: String
        /// How long to wait for the server to accept connections.
        public var startTimeout: Duration

        public init(directory: URL, binaries: PostgresBinaries, serviceUser: String = "nvisy",
                    database: String = "nvisy", startTimeout: Duration = .seconds(60)) {
            self.directory = directory
            self.binaries = binaries
            self.serviceUser = serviceUser
            self.database = database
            self.startTimeout = startTimeout
        }
    }

    /// The superuser role the cluster is initialised with.
    public static let superuser = "nvisy"

    /// The loopback port the server listens on.
    public nonisolated let port: Int
    /// The URL of the host's database. It holds the password: never log it (see ``redactedURL``).
    public nonisolated let connectionURL: String
    /// ``connectionURL`` without the password, for logs and messages.
    public nonisolated let redactedURL: String
    /// The cluster's data folder (PGDATA).
    public nonisolated let dataPath: String

    private let options: Options
    private let password: String
    private let runner: PostgresCommandRunner
    private let logger: Logger
    /// Held while running; released by ``stop()`` so the directory can be started again.
    private var lock: DirectoryLock?
    private var running = true

    private init(options: Options, port: Int, password: String, runner: PostgresCommandRunner, dataPath: String,
                 lock: DirectoryLock, logger: Logger) {
        self.options = options
        self.port = port
        self.password = password
        self.runner = runner
        self.dataPath = dataPath
        self.lock = lock
        self.logger = logger
        connectionURL = "postgres://\(Self.superuser):\(password)@127.0.0.1:\(port)/\(options.database)"
        redactedURL = "postgres://\(Self.superuser)@127.0.0.1:\(port)/\(options.database)"
    }

    /// Starts a server on `dataDirectory` with binaries from `--postgres-bin-dir`-style lookup
    /// (the project venv at `./.venv` or `$NVISY_VENV`, else PATH). Convenient for tests.
    public static func start(dataDirectory: URL, logger: Logger) async throws(NvisyError) -> EmbeddedPostgres {
        let venv = ProcessInfo.processInfo.environment["NVISY_VENV"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".venv")
        let binaries = try PostgresBinaries.locate(explicit: nil, venv: venv)
        return try await start(options: Options(directory: dataDirectory, binaries: binaries), logger: logger)
    }

    /// Initialises (first time) and starts the server, and creates the database.
    public static func start(options: Options, logger: Logger) async throws(NvisyError) -> EmbeddedPostgres {
        let lock = try DirectoryLock(directory: options.directory, name: "embedded-postgres.lock")
        let runner = try await PostgresCommandRunner.prepare(options: options, logger: logger)
        let password = try runner.loadOrCreatePassword()
        if !runner.isInitialised {
            logger.info("initialising PostgreSQL cluster", metadata: ["data": "\(runner.dataPath)"])
            try await runner.initdb(password: password)
        }
        try await runner.stopOrphan()
        var lastError: NvisyError?
        for _ in 0..<3 {
            let port = try FreePort.loopback()
            do throws(NvisyError) {
                try await runner.start(port: port, timeout: options.startTimeout)
                let server = EmbeddedPostgres(options: options, port: port, password: password, runner: runner,
                                              dataPath: runner.dataPath, lock: lock, logger: logger)
                do {
                    try await server.ensureDatabase(options.database)
                } catch {
                    await server.stop()
                    throw error
                }
                logger.info("embedded PostgreSQL ready", metadata: ["url": "\(server.redactedURL)"])
                return server
            } catch {
                // Someone took the port between our probe and the bind: try another; else give up.
                guard FreePort.isListening(port) else { throw error }
                lastError = error
            }
        }
        throw lastError ?? NvisyError.unavailable("PostgreSQL did not start")
    }

    /// Creates a fresh, empty database and returns its URL (for one test suite each).
    public func createDatabase(named name: String) async throws(NvisyError) -> String {
        try await ensureDatabase(name)
        return "postgres://\(Self.superuser):\(password)@127.0.0.1:\(port)/\(name)"
    }

    /// Stops the server (fast shutdown: open transactions are rolled back, data is safe).
    public func stop() async {
        guard running else { return }
        running = false
        await runner.stop()
        lock = nil
        logger.info("embedded PostgreSQL stopped")
    }

    /// Starts a stopped server again on the same port and data, so URLs handed out stay valid
    /// (fault tests: a database that goes away and comes back).
    public func restart() async throws(NvisyError) {
        guard !running else { return }
        lock = try DirectoryLock(directory: options.directory, name: "embedded-postgres.lock")
        try await runner.start(port: port, timeout: options.startTimeout)
        running = true
        logger.info("embedded PostgreSQL restarted", metadata: ["url": "\(redactedURL)"])
    }

    /// Whether ``stop()`` has not been called.
    public var isRunning: Bool { running }

    private func ensureDatabase(_ name: String) async throws(NvisyError) {
        guard name.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw NvisyError.invalidInput("database name '\(name)' must be letters, digits and _")
        }
        let config = PostgresConnection.Configuration(
            host: "127.0.0.1", port: port, username: Self.superuser, password: password, database: "postgres",
            tls: .disable)
        do {
            let connection = try await PostgresConnection.connect(configuration: config, id: 1, logger: logger)
            do {
                let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger)
                var exists = false
                for try await _ in rows { exists = true }
                if !exists {
                    try await connection.execute(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
                }
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw NvisyError.unavailable("cannot create database \(name) on the embedded PostgreSQL: \(String(reflecting: error))")
        }
    }
}
