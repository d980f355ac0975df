import Foundation
import Logging
import NvisyCore
import NvisyNATS
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime

/// What the pipeline and run routes need beyond repositories: the compiler (plugins +
/// workspace connections), the queue, and the checkpoint store that holds per-item errors.
public struct RunService: Sendable {
    public let plugins: PluginHost
    public let jetStream: JetStream
    public let checkpoints: any CheckpointStore
    let connections: ConnectionRepository
    let keyring: CredentialKeyring?
    /// Embeds search queries (one provider instance per embedding connection, shared).
    public let queryEmbedder: QueryEmbedder

    public init(plugins: PluginHost, jetStream: JetStream, checkpoints: any CheckpointStore,
                connections: ConnectionRepository, keyring: CredentialKeyring?) {
        self.plugins = plugins
        self.jetStream = jetStream
        self.checkpoints = checkpoints
        self.connections = connections
        self.keyring = keyring
        queryEmbedder = QueryEmbedder(plugins: plugins)
    }

    /// The resolver for one workspace's connections.
    public func resolver(for workspaceID: UUID) -> WorkspaceConnectionResolver {
        WorkspaceConnectionResolver(workspaceID: workspaceID, connections: connections, keyring: keyring)
    }

    /// The resolver a worker uses for `run`: its workspace's connections, and the file that
    /// started it when a file upload did.
    public func resolver(for run: RunRecord) -> WorkspaceConnectionResolver {
        var file: UUID?
        if run.trigger == "file", let json = run.triggerDetailJSON,
           let detail = try? JSONDecoder().decode([String: String].self, from: Data(json.utf8)) {
            file = detail["fileId"].flatMap(UUID.init(uuidString:))
        }
        return WorkspaceConnectionResolver(workspaceID: run.workspaceID, triggerFileID: file, runID: run.id, connections: connections, keyring: keyring)
    }

    /// The compiler for one workspace.
    public func compiler(for workspaceID: UUID) -> PipelineCompiler {
        PipelineCompiler(host: plugins, connections: resolver(for: workspaceID))
    }

    /// Every problem of `definition` in `workspaceID` (empty: it compiles).
    public func problems(_ definition: PipelineDefinition, in workspaceID: UUID) async throws(NvisyError) -> [PipelineProblem] {
        do {
            return try await compiler(for: workspaceID).problems(in: definition)
        } catch let error as NvisyError {
            throw error
        } catch {
            throw NvisyError.unavailable("the pipeline cannot be checked now: \(error)")
        }
    }

    /// Queues run `id`. A failure is logged, not thrown: the run row exists and the workers'
    /// orphan scan queues it again.
    public func enqueue(_ id: UUID, logger: Logger) async {
        do {
            try await RunQueue.enqueue(id, on: jetStream)
        } catch {
            logger.warning("cannot queue the run now; it will be queued by the orphan scan",
                           metadata: ["run": "\(id.uuidString.lowercased())", "error": "\(error.message)"])
        }
    }
}
