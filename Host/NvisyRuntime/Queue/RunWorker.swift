import Foundation
import Logging
import NvisyCore
import NvisyNATS
import NvisyPlugins
import NvisyPostgres
import ServiceLifecycle

/// Works off the run queue: pulls run messages from JetStream, takes each run's lease in
/// Postgres (one worker per run), compiles the run's definition snapshot, executes it with the
/// ``PipelineExecutor`` (resuming from its checkpoints), reports progress and renews the lease
/// every heartbeat, and acknowledges the message when the run has ended.
///
/// A worker killed with -9 leaves its message unacknowledged and its lease to expire: another
/// worker (or the restarted one) takes the run over and resumes it from its checkpoint. On a
/// graceful shutdown the runs stop at a consistent checkpoint and go back to the queue.
/// `nvisy serve` runs one; `nvisy worker` runs only this.
public struct RunWorker: Service {
    public let runs: RunRepository
    public let jetStream: JetStream
    public let executor: PipelineExecutor
    /// The connections a run may use (its workspace's, credentials opened: the server's resolver).
    public let resolver: @Sendable (RunRecord) -> any ConnectionResolver
    public let settings: RunWorkerSettings
    /// Fires scheduled pipelines beside the queue (nil: this worker does not).
    public let scheduler: PipelineScheduler?
    let logger: Logger
    let active = ActiveRuns()

    public init(runs: RunRepository, jetStream: JetStream, executor: PipelineExecutor,
                resolver: @escaping @Sendable (RunRecord) -> any ConnectionResolver, settings: RunWorkerSettings = RunWorkerSettings(),
                scheduler: PipelineScheduler? = nil, logger: Logger) {
        self.runs = runs
        self.jetStream = jetStream
        self.executor = executor
        self.resolver = resolver
        self.settings = settings
        self.scheduler = scheduler
        self.logger = logger
    }

    public func run() async throws {
        _ = try await jetStream.ensureStream(RunQueue.stream)
        let consumer = try await jetStream.consumer(
            RunQueuedMessage.self, durable: "run-workers",
            options: ConsumerOptions(ackWait: settings.ackWait, maxDeliver: nil, maxAckPending: 10_000, batchSize: 1, fetchWait: .seconds(1)))
        logger.info("run worker started", metadata: ["worker": "\(settings.workerID)", "concurrency": "\(settings.concurrency)"])
        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await orphanLoop() }
                if let scheduler { group.addTask { await scheduler.run(until: { active.stopping }) } }
            }
        }
        // A graceful shutdown (ServiceGroup) or a cancelled task: runs stop and go back to the queue.
        await withTaskCancellationHandler {
          await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !active.stopping, !Task.isCancelled {
                    let free = settings.concurrency - active.reserved
                    guard free > 0 else {
                        try? await Task.sleep(for: .milliseconds(50))
                        continue
                    }
                    let messages: [JetStreamMessage<RunQueuedMessage>]
                    do {
                        messages = try await consumer.fetch(max: free, wait: .seconds(1))
                    } catch {
                        logger.warning("run queue fetch failed; retrying", metadata: ["error": "\(error)"])
                        try? await Task.sleep(for: .seconds(1))
                        continue
                    }
                    for message in messages {
                        active.reserve()
                        group.addTask {
                            await process(message)
                            active.release()
                        }
                    }
                }
            }
          } onGracefulShutdown: {
            active.stopAll()
          }
        } onCancel: {
            active.stopAll()
        }
        background.cancel()
        await background.value
        await consumer.close()
        logger.info("run worker stopped", metadata: ["worker": "\(settings.workerID)"])
    }

    /// Stops this worker's runs and gives them back to the queue (for tests that simulate a
    /// host going away without stopping the process).
    public func stopAllRuns() { active.stopAll() }

    // MARK: One message

    func process(_ message: JetStreamMessage<RunQueuedMessage>) async {
        let id = message.value.runID
        let meta: Logger.Metadata = ["run": "\(id.uuidString.lowercased())", "worker": "\(settings.workerID)"]
        let claimed: RunRecord?
        do {
            claimed = try await runs.claim(id: id, worker: settings.workerID, lease: settings.lease) { run in
                run.attempts == 1 ? try RunEvents.event(for: run) : nil
            }
        } catch {
            logger.warning("cannot claim run; it goes back to the queue", metadata: meta.merging(["error": "\(error.message)"]) { $1 })
            try? await message.nak(delay: .seconds(5))
            return
        }
        guard let run = claimed else { return await unclaimable(id, message, meta) }
        if run.attempts > settings.maxAttempts {
            await end(run, .failed, NvisyError(.internal, "the run was started \(run.attempts - 1) times and never finished (a worker died each time); it is given up", retry: .permanent),
                      progress: nil, message, meta)
            return
        }
        logger.info("run started", metadata: meta.merging(["attempt": "\(run.attempts)", "pipeline": "\(run.pipelineName)"]) { $1 })
        let plan: ExecutionPlan
        do {
            let definition = try JSONDecoder().decode(PipelineDefinition.self, from: Data(run.definitionJSON.utf8))
            plan = try await PipelineCompiler(host: executor.host, connections: resolver(run)).compile(definition)
        } catch let error as PipelineCompileError {
            await end(run, .failed, error.nvisyError, progress: nil, message, meta)
            return
        } catch let error as DecodingError {
            await end(run, .failed, NvisyError(.invalidInput, "the run's definition does not decode: \(error)", retry: .permanent), progress: nil, message, meta)
            return
        } catch {
            let failure = PipelineRun.nvisy(error)
            if run.attempts < settings.maxAttempts {
                await retryLater(run, failure, message, meta)
            } else {
                await end(run, .failed, failure, progress: nil, message, meta)
            }
            return
        }
        let execution = executor.start(plan, runId: run.id, options: settings.runOptions)
        if !active.add(execution) { execution.cancel() }
        let heartbeat = Task { await heartbeatLoop(execution, message: message, meta) }
        let result = await execution.wait()
        heartbeat.cancel()
        await heartbeat.value
        let reason = active.remove(run.id)
        switch (result.status, reason) {
        case (.completed, _):
            await end(run, .completed, nil, progress: result.progress, message, meta)
        case (.failed, _):
            let error = result.error ?? NvisyError(.internal, "the run failed")
            if error.retry == .transient, run.attempts < settings.maxAttempts {
                await retryLater(run, error, message, meta)
            } else {
                await end(run, .failed, error, progress: result.progress, message, meta)
            }
        case (_, .shutdown?):
            logger.info("run interrupted by shutdown; back to the queue", metadata: meta)
            await saveProgress(run.id, result.progress)
            try? await runs.release(id: run.id, worker: settings.workerID, error: "interrupted: the worker shut down")
            try? await message.nak(delay: nil)
        case (_, .leaseLost?):
            logger.warning("run taken over by another worker; this one stopped", metadata: meta)
        default:
            await end(run, .cancelled, nil, progress: result.progress, message, meta)
        }
    }

    /// A message whose run this worker could not claim: gone or final → ack; cancelled while
    /// its worker was dead → end it; held by a live worker → ask again later.
    func unclaimable(_ id: UUID, _ message: JetStreamMessage<RunQueuedMessage>, _ meta: Logger.Metadata) async {
        do {
            guard let current = try await runs.find(id: id), !current.status.isFinal else {
                try? await message.ack()
                return
            }
            if current.cancelRequested, try await runs.cancelAbandoned(id: id, event: { try RunEvents.event(for: $0) }) {
                try? await message.ack()
                return
            }
            try? await message.nak(delay: settings.lease)
        } catch {
            try? await message.nak(delay: .seconds(5))
        }
    }

    func heartbeatLoop(_ execution: PipelineRun, message: JetStreamMessage<RunQueuedMessage>, _ meta: Logger.Metadata) async {
        var sinceAck = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: settings.heartbeat)
            if Task.isCancelled { return }
            let snapshot = execution.snapshot()
            do {
                let lease = try await runs.heartbeat(id: execution.id, worker: settings.workerID, lease: settings.lease, Self.beat(snapshot))
                if !lease.held { active.stop(execution.id, .leaseLost) }
                else if lease.cancelRequested { active.stop(execution.id, .cancelRequested) }
            } catch {
                logger.warning("run heartbeat failed", metadata: meta.merging(["error": "\(error.message)"]) { $1 })
            }
            if ContinuousClock.now - sinceAck >= settings.ackWait / 3 {
                try? await message.inProgress()
                sinceAck = ContinuousClock.now
            }
        }
    }

    /// Ends the run with `status` (and its event), then acknowledges the message. A failure to
    /// write is retried for a while; after that the message stays unacknowledged so that the
    /// run is taken over and finished again from its checkpoint (sinks are idempotent).
    func end(_ run: RunRecord, _ status: RunRecord.Status, _ error: NvisyError?, progress: RunProgress?,
             _ message: JetStreamMessage<RunQueuedMessage>, _ meta: Logger.Metadata) async {
        let beat = progress.map(Self.beat) ?? RunHeartbeat(progressJSON: run.progressJSON ?? "null", read: run.itemsRead,
                                                             written: run.itemsWritten, failed: run.itemsFailed)
        for attempt in 1...10 {
            do {
                _ = try await runs.finish(id: run.id, worker: settings.workerID, status: status, error: error?.message,
                                          errorRetry: error?.retry.rawValue, beat) { try RunEvents.event(for: $0) }
                try? await message.ack()
                var m = meta
                m["status"] = "\(status.rawValue)"
                if let error { m["error"] = "\(error.message)" }
                logger.info("run ended", metadata: m)
                return
            } catch {
                logger.warning("cannot record the end of the run; retrying", metadata: meta.merging(["error": "\(error.message)"]) { $1 })
                try? await Task.sleep(for: .seconds(min(8, attempt)))
            }
        }
    }

    /// A transient failure: the run goes back to the queue for another attempt after a pause.
    func retryLater(_ run: RunRecord, _ error: NvisyError, _ message: JetStreamMessage<RunQueuedMessage>, _ meta: Logger.Metadata) async {
        logger.warning("run failed transiently; it will be retried", metadata: meta.merging(["error": "\(error.message)", "attempt": "\(run.attempts)"]) { $1 })
        try? await runs.release(id: run.id, worker: settings.workerID, error: error.message)
        try? await message.nak(delay: settings.runOptions.retry.backoff(after: run.attempts))
    }

    func saveProgress(_ id: UUID, _ progress: RunProgress) async {
        _ = try? await runs.heartbeat(id: id, worker: settings.workerID, lease: settings.lease, Self.beat(progress))
    }

    /// Queued runs whose message was lost and running runs whose worker died go back on the queue.
    func orphanLoop() async {
        while !Task.isCancelled, !active.stopping {
            try? await Task.sleep(for: settings.orphanScan)
            guard !Task.isCancelled else { return }
            do {
                for id in try await runs.orphaned(olderThan: settings.orphanScan, limit: 100) {
                    try await RunQueue.enqueue(id, on: jetStream)
                }
            } catch {
                logger.debug("orphaned-run scan failed", metadata: ["error": "\(error)"])
            }
        }
    }

    static func beat(_ progress: RunProgress) -> RunHeartbeat {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        let json = (try? encoder.encode(progress)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        let read = progress.nodes.filter { $0.kind == .source }.reduce(0) { $0 + $1.read }
        return RunHeartbeat(progressJSON: json, read: Int64(read), written: Int64(progress.written), failed: Int64(progress.failed))
    }
}
