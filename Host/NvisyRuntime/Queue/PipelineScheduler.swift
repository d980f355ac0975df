import Foundation
import Logging
import NvisyCore
import NvisyNATS
import NvisyPostgres
import Synchronization

/// Fires scheduled pipelines: every `interval`, enabled pipelines whose next run time has come
/// get a run (trigger `schedule`), created in the same transaction that moves the pipeline's
/// next run time on. With several hosts, `FOR UPDATE SKIP LOCKED` makes exactly one of them
/// fire a given tick.
public struct PipelineScheduler: Sendable {
    public let pipelines: PipelineRepository
    public let jetStream: JetStream
    public let interval: Duration
    let logger: Logger

    public init(pipelines: PipelineRepository, jetStream: JetStream, interval: Duration = .seconds(10), logger: Logger) {
        self.pipelines = pipelines
        self.jetStream = jetStream
        self.interval = interval
        self.logger = logger
    }

    /// Fires what is due until `stopping` answers true or the task is cancelled.
    public func run(until stopping: @Sendable () -> Bool) async {
        while !Task.isCancelled, !stopping() {
            do {
                let fired = try await fireDue(now: Date())
                if !fired.isEmpty { logger.info("scheduled runs queued", metadata: ["runs": "\(fired.count)"]) }
            } catch {
                logger.debug("schedule scan failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Creates and queues a run for each pipeline due at `now`; answers the run ids.
    @discardableResult
    public func fireDue(now: Date) async throws(NvisyError) -> [UUID] {
        let fired = Mutex<[UUID]>([])
        let logger = self.logger
        _ = try await pipelines.claimDue(now: now, limit: 50, next: { PipelineTriggers(json: $0.triggersJSON).nextRun(after: now) }) { pipeline, connection in
            let detail = #"{"scheduledAt":""# + ISO8601DateFormatter().string(from: pipeline.nextRunAt ?? now) + #""}"#
            let run = try await RunRepository.insert(
                NewRun(workspaceID: pipeline.workspaceID, pipelineID: pipeline.id, pipelineName: pipeline.name,
                       definitionJSON: pipeline.definitionJSON, trigger: "schedule", triggerDetailJSON: detail, createdBy: nil),
                on: connection, logger: logger)
            fired.withLock { $0.append(run.id) }
        }
        let ids = fired.withLock { $0 }
        // A failed publish is not lost: the worker's orphan scan queues the run again.
        for id in ids { try? await RunQueue.enqueue(id, on: jetStream) }
        return ids
    }
}
