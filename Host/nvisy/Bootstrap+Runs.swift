import Foundation
import Logging
import NvisyCore
import NvisyNATS
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime
import NvisyServer
import PostgresNIO

extension Bootstrap {
    /// The pipeline side shared by `serve` and `worker`: the compiler/queue facade, and the
    /// worker that executes queued runs (with the schedule trigger beside it).
    static func runService(client: PostgresClient, jetStream: JetStream, plugins: PluginHost, keyring: CredentialKeyring,
                           logger: Logger) -> RunService {
        RunService(plugins: plugins, jetStream: jetStream, checkpoints: PostgresCheckpointStore(client: client, logger: logger),
                   connections: ConnectionRepository(client: client, logger: logger), keyring: keyring)
    }

    static func runWorker(_ config: ServerConfiguration, client: PostgresClient, service: RunService, logger: Logger) -> RunWorker {
        let executor = PipelineExecutor(host: service.plugins, checkpoints: service.checkpoints, logger: logger)
        return RunWorker(runs: RunRepository(client: client, logger: logger), jetStream: service.jetStream, executor: executor,
                         resolver: { service.resolver(for: $0) }, settings: config.runWorkerSettings,
                         scheduler: PipelineScheduler(pipelines: PipelineRepository(client: client, logger: logger),
                                                      jetStream: service.jetStream, logger: logger),
                         logger: logger)
    }
}
