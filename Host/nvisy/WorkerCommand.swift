import ArgumentParser
import Foundation
import Logging
import NvisyCore
import NvisyNATS
import NvisyPostgres
import NvisyRuntime
import NvisyServer
import ServiceLifecycle

/// `nvisy worker`: executes queued pipeline runs and nothing else (no HTTP). Point it at the
/// PostgreSQL and NATS of the API host(s) (`--database-url`, `--nats-url`) and give it the same
/// master key (it opens connection credentials). Run as many as you like; each run is
/// executed by one worker at a time, and a worker that dies has its runs taken over.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Execute queued pipeline runs (no HTTP API).")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let config = try options.load()
        let logger = Bootstrap.logging(level: config.logLevel)
        guard let databaseURL = config.databaseURL else {
            throw NvisyError.invalidInput("nvisy worker needs database_url (--database-url or NVISY_DATABASE_URL): the PostgreSQL of the API host")
        }
        guard config.natsURL != nil else {
            throw NvisyError.invalidInput("nvisy worker needs nats_url (--nats-url or NVISY_NATS_URL): the NATS of the API host")
        }
        let url = try DatabaseURL(databaseURL)
        let masterKey = try Bootstrap.masterKey(config, logger: logger)
        let nats = try await Bootstrap.nats(config, logger: logger)
        let database = NvisyDatabase(url: url, logger: logger)
        let files: FileStore
        do {
            files = try await FileStore.open(nats: nats.connection, files: FileRepository(client: database.client, logger: logger), logger: logger)
        } catch {
            await nats.shutdown()
            throw error
        }
        let plugins = await Bootstrap.plugins(config, files: files, chunks: ChunkRepository(client: database.client, logger: logger), logger: logger)
        let service = Bootstrap.runService(client: database.client, jetStream: nats.connection.jetStream, plugins: plugins,
                                           keyring: Bootstrap.keyring(masterKey, config), logger: logger)
        var settings = config
        settings.workerConcurrency = max(1, config.workerConcurrency)
        let worker = Bootstrap.runWorker(settings, client: database.client, service: service, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: database.client), .init(service: PluginReloadService(host: plugins, logger: logger)),
                       .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await nats.shutdown()
            throw error
        }
        await nats.shutdown()
        logger.info("nvisy worker stopped")
    }
}
