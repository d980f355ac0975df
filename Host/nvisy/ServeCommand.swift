import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NvisyCore
import NvisyNATS
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime
import NvisyServer
import NvisyWebhook
import ServiceLifecycle

/// `nvisy serve`: starts what is embedded, migrates, and serves the API until SIGINT/SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the nvisy server.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let config = try options.load()
        let logger = Bootstrap.logging(level: config.logLevel)
        let lock = try DirectoryLock(directory: config.dataDirectory)
        // Fail before starting anything when the port is taken.
        if FreePort.isListening(config.port, host: config.host == "0.0.0.0" ? "127.0.0.1" : config.host) {
            throw NvisyError.unavailable("cannot listen on \(config.host):\(config.port): the address is already in use; stop what uses it or pass --port")
        }
        let masterKey = try Bootstrap.masterKey(config, logger: logger)
        let (databaseURL, embedded) = try await Bootstrap.database(config, logger: logger)
        let nats: NATSRuntime
        do {
            nats = try await Bootstrap.nats(config, logger: logger)
        } catch {
            await embedded?.stop()
            throw error
        }
        let database = NvisyDatabase(url: databaseURL, logger: logger)
        var api = try await APIDependencies.forServer(config, client: database.client, logger: logger)
        // Files in the object store (opened before the plugins: workspace/files reads them).
        let fileStore: FileStore
        do {
            fileStore = try await FileStore.open(nats: nats.connection, files: api.files, logger: logger)
        } catch {
            await nats.shutdown()
            await embedded?.stop()
            throw error
        }
        api.fileStore = fileStore
        let plugins = await Bootstrap.plugins(config, files: fileStore, chunks: ChunkRepository(client: database.client, logger: logger), logger: logger)
        // Webhooks: secrets sealed with the master key; delivery runs beside the HTTP server.
        let keyring = Bootstrap.keyring(masterKey, config)
        let webhooks = Webhooks(client: database.client, keyring: keyring, settings: config.webhookSettings, logger: logger)
        api.webhooks = webhooks
        // Connections: credentials sealed with the master key (rotation-aware); files in the object store.
        api.keyring = keyring
        api.plugins = plugins
        // Pipelines: compiled against the workspace's connections, queued on JetStream, executed
        // by this host's worker unless worker_concurrency = 0.
        let runService = Bootstrap.runService(client: database.client, jetStream: nats.connection.jetStream, plugins: plugins,
                                              keyring: keyring, logger: logger)
        api.runService = runService
        // Services that query tables wait for the migrations below (a fresh database has none).
        let migrated = MigrationGate()
        var services: [any Service] = [database.client, PluginReloadService(host: plugins, logger: logger), FileReaper(store: fileStore),
                                       AfterMigrations(WebhookService(webhooks: webhooks, jetStream: nats.connection.jetStream, logger: logger),
                                                       gate: migrated),
                                       AuthChangeListener(client: database.client, cache: api.authCache, logger: logger),
                                       // Indexed chunks join their HNSW graph once indexing goes quiet.
                                       AfterMigrations(ChunkGraphService(graph: ChunkGraph(client: database.client, logger: logger), logger: logger),
                                                       gate: migrated)]
        if config.workerConcurrency > 0 {
            services.append(AfterMigrations(Bootstrap.runWorker(config, client: database.client, service: runService, logger: logger),
                                            gate: migrated))
        }
        var dependencies = ApplicationDependencies(
            healthChecks: [.postgres(database), .nats(nats)],
            services: services,
            beforeServerStarts: [{
                try await Bootstrap.waitForDatabase(database, url: databaseURL)
                let applied = try await database.migrate()
                logger.info("database ready", metadata: ["migrations_applied": "\(applied.count)"])
                migrated.open()
                await fileStore.sweep()
            }],
            plugins: plugins
        )
        dependencies.api = api
        let app = buildApplication(configuration: config, dependencies: dependencies, logger: logger)
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            await nats.shutdown()
            await embedded?.stop()
            throw Bootstrap.explain(error, config: config)
        }
        await nats.shutdown()
        await embedded?.stop()
        withExtendedLifetime(lock) {}
        logger.info("nvisy stopped")
    }
}
