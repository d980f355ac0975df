import Foundation
import Logging
import NvisyCore
import NvisyPlugins

/// Runs compiled pipelines: each node a task, nodes linked by back-pressured channels,
/// batches to providers with item-at-a-time semantics, checkpoints per source in a
/// ``CheckpointStore``, transient errors retried with backoff, permanent per-item errors
/// recorded within an error budget.
///
/// ```swift
/// let executor = PipelineExecutor(host: plugins, checkpoints: PostgresCheckpointStore(client: db.client, logger: log), logger: log)
/// let plan = try await PipelineCompiler(host: plugins, connections: resolver).compile(definition)
/// let run = executor.start(plan, runId: runId)        // resumes if runId has checkpoints
/// for await p in run.progress() { … }                 // SSE: a snapshot every progressInterval, ends with the final one
/// run.cancel()                                        // POST /runs/{id}/cancel
/// let result = await run.wait()                       // .completed / .failed(error) / .cancelled
/// ```
public struct PipelineExecutor: Sendable {
    public let host: PluginHost
    public let checkpoints: any CheckpointStore
    let logger: Logger

    public init(host: PluginHost, checkpoints: any CheckpointStore, logger: Logger) {
        self.host = host
        self.checkpoints = checkpoints
        self.logger = logger
    }

    /// Starts `plan` as run `runId` and answers at once. When the store holds checkpoints for
    /// `runId` (an interrupted earlier attempt), each source resumes after its checkpoint.
    public func start(_ plan: ExecutionPlan, runId: UUID, options: RunOptions = RunOptions()) -> PipelineRun {
        let run = PipelineRun(id: runId, plan: plan, options: options)
        run.launch(executor: self)
        return run
    }

    /// Runs `plan` to its end.
    public func run(_ plan: ExecutionPlan, runId: UUID, options: RunOptions = RunOptions()) async -> RunResult {
        await start(plan, runId: runId, options: options).wait()
    }
}
