import Foundation
import Logging
import NIOCore
import NvisyCore
import NvisyNATS
import NvisyPlugins
import NvisyPostgres
import NvisyServer

/// Start-up steps shared by the commands.
enum Bootstrap {
    /// Installs the process's log handler (stderr) at `level` and returns the root logger.
    static func logging(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "nvisy")
        logger.logLevel = level
        return logger
    }

    /// The master key: `master_key_file`, else `NVISY_MASTER_KEY`, else `<data dir>/master.key` (created once).
    static func masterKey(_ config: ServerConfiguration, logger: Logger) throws(NvisyError) -> MasterKey {
        if let file = config.masterKeyFile { return try MasterKey.load(from: file.path) }
        if let text = ProcessInfo.processInfo.environment["NVISY_MASTER_KEY"] {
            do { return try MasterKey(base64: text) } catch {
                throw NvisyError.invalidInput("NVISY_MASTER_KEY is malformed: \(error.message)")
            }
        }
        let path = config.dataDirectory.appendingPathComponent("master.key").path
        let (key, created) = try MasterKey.loadOrCreate(at: path)
        if created { logger.notice("created a new master key", metadata: ["path": "\(path)"]) }
        return key
    }

    /// The keyring that seals connection credentials: the master key, re-read from its file when
    /// `nvisy keys rotate` replaces it, plus the rotation's pending key `<data dir>/master.key.next`.
    static func keyring(_ key: MasterKey, _ config: ServerConfiguration) -> CredentialKeyring {
        let fromEnvironment = config.masterKeyFile == nil && ProcessInfo.processInfo.environment["NVISY_MASTER_KEY"] != nil
        let path = config.masterKeyFile?.path ?? (fromEnvironment ? nil : config.dataDirectory.appendingPathComponent("master.key").path)
        return CredentialKeyring(primary: key, primaryPath: path, pendingPath: config.dataDirectory.appendingPathComponent("master.key.next").path)
    }

    /// The database to use: `database_url`, else a started embedded PostgreSQL.
    static func database(_ config: ServerConfiguration, logger: Logger) async throws(NvisyError) -> (DatabaseURL, EmbeddedPostgres?) {
        if let url = config.databaseURL { return (try DatabaseURL(url), nil) }
        let binaries = try PostgresBinaries.locate(explicit: config.postgresBinDirectory, venv: config.venvDirectory)
        let embedded = try await EmbeddedPostgres.start(
            options: .init(directory: config.dataDirectory.appendingPathComponent("postgres"), binaries: binaries),
            logger: logger)
        do {
            return (try DatabaseURL(embedded.connectionURL), embedded)
        } catch {
            await embedded.stop()
            throw error
        }
    }

    /// NATS: `nats_url`, else an embedded `nats-server -js` with its store in `<data dir>/nats`.
    static func nats(_ config: ServerConfiguration, logger: Logger) async throws -> NATSRuntime {
        do {
            let runtime = try await NATSRuntime.start(
                url: config.natsURL, storeDirectory: config.dataDirectory.appendingPathComponent("nats"), replicas: config.natsReplicas,
                logger: logger)
            logger.info("NATS ready", metadata: ["embedded": "\(runtime.embeddedServer != nil)"])
            return runtime
        } catch let error as NvisyError {
            throw NvisyError(error.kind, "NATS: \(error.message)", retry: error.retry)
        }
    }

    /// The provider registry, loaded from `plugins_dir`; a broken plugin is logged and skipped.
    static func plugins(_ config: ServerConfiguration, files: FileStore? = nil, chunks: ChunkRepository? = nil, logger: Logger) async -> PluginHost {
        let host = makePluginHost(config, logger: logger)
        await WorkspaceProviders.register(on: host, store: files, chunks: chunks)
        let report = await host.reload()
        for plugin in report.plugins where plugin.status == .failed {
            logger.error("plugin failed to load", metadata: ["plugin": "\(plugin.name)", "manifest": "\(plugin.manifestPath)", "error": "\(plugin.error ?? "")"])
        }
        logger.info("plugins loaded", metadata: [
            "loaded": "\(report.plugins.filter { $0.status == .loaded }.map(\.name))",
            "failed": "\(report.failed)",
        ])
        return host
    }

    /// A registry with both runtimes: Swift (dlopen) and embedded Python (started lazily,
    /// only when an enabled manifest needs it), Python packages from `venv`.
    static func makePluginHost(_ config: ServerConfiguration, logger: Logger) -> PluginHost {
        PluginHost(directory: config.pluginsDirectory,
                   runtimes: [PythonRuntime(venv: config.venvDirectory, logger: logger)], logger: logger)
    }

    /// Waits (bounded) until the database answers, so a wrong URL fails fast with a clear line.
    static func waitForDatabase(_ database: NvisyDatabase, url: DatabaseURL, timeout: Duration = .seconds(15)) async throws(NvisyError) {
        let deadline = ContinuousClock.now + timeout
        var last: NvisyError?
        while ContinuousClock.now < deadline {
            switch await database.ping(timeout: .seconds(3)) {
            case .success: return
            case .failure(let error): last = error
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        throw NvisyError.unavailable("the database at \(url.redacted) did not answer within \(timeout) (\(last?.message ?? "no answer")); check --database-url and that PostgreSQL is running")
    }

    /// One clear sentence for the errors start-up can hit.
    static func explain(_ error: any Error, config: ServerConfiguration) -> any Error {
        if let error = error as? NvisyError { return error }
        if let io = error as? IOError, io.errnoCode == EADDRINUSE {
            return NvisyError.unavailable("cannot listen on \(config.host):\(config.port): the address is already in use; stop what uses it or pass --port")
        }
        if let io = error as? IOError, io.errnoCode == EACCES {
            return NvisyError.unavailable("cannot listen on \(config.host):\(config.port): permission denied; use a port above 1023")
        }
        let text = String(describing: error)
        if text.contains("Address already in use") {
            return NvisyError.unavailable("cannot listen on \(config.host):\(config.port): the address is already in use; stop what uses it or pass --port")
        }
        return NvisyError.internal("nvisy stopped on an error: \(text)")
    }
}
