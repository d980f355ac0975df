import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import Synchronization

/// One run of a plan, started by ``PipelineExecutor/start(_:runId:options:)``: observe it,
/// cancel it, wait for it.
public final class PipelineRun: Sendable {
    public let id: UUID
    public let plan: ExecutionPlan
    public let options: RunOptions

    private struct Inner {
        var status: RunStatus = .running
        var state: RunState?
        var nodes: Task<Void, any Error>?
        var main: Task<RunResult, Never>?
        var cancelRequested = false
        var result: RunResult?
        var subscribers: [UUID: AsyncStream<RunProgress>.Continuation] = [:]
        var rates: [String: Double] = [:]
        var rate: Double = 0
        var samples: [String: Int] = [:]
        var sampledAt: ContinuousClock.Instant?
    }
    private let inner = Mutex(Inner())

    init(id: UUID, plan: ExecutionPlan, options: RunOptions) {
        self.id = id
        self.plan = plan
        self.options = options
    }

    // MARK: Public API

    /// Stops every node promptly. Items already acknowledged by the sinks stay in the
    /// checkpoint, which is saved before ``wait()`` answers `cancelled`. Idempotent.
    public func cancel() {
        let task = inner.withLock { i -> Task<Void, any Error>? in
            i.cancelRequested = true
            return i.nodes
        }
        task?.cancel()
    }

    /// Waits for the end of the run.
    public func wait() async -> RunResult {
        let main = inner.withLock { $0.main }
        if let main { return await main.value }
        return inner.withLock { $0.result }!
    }

    /// The status now.
    public var status: RunStatus { inner.withLock { $0.status } }

    /// A snapshot of the run now.
    public func snapshot() -> RunProgress {
        let (status, error) = inner.withLock { ($0.status, $0.result?.error?.message) }
        return snapshot(status: status, error: error)
    }

    /// Snapshots: the current one at once, then one every ``RunOptions/progressInterval``, and
    /// the final one (status completed, failed or cancelled), after which the sequence ends.
    /// Any number of observers may subscribe.
    public func progress() -> AsyncStream<RunProgress> {
        let (stream, continuation) = AsyncStream<RunProgress>.makeStream(bufferingPolicy: .bufferingNewest(8))
        let key = UUID()
        let final = inner.withLock { i -> RunResult? in
            if i.result == nil { i.subscribers[key] = continuation }
            return i.result
        }
        if let final {
            continuation.yield(final.progress)
            continuation.finish()
        } else {
            continuation.yield(snapshot())
            continuation.onTermination = { [weak self] _ in _ = self?.inner.withLock { $0.subscribers.removeValue(forKey: key) } }
        }
        return stream
    }

    // MARK: Running

    func launch(executor: PipelineExecutor) {
        let main = Task { await self.execute(executor) }
        inner.withLock { $0.main = main }
    }

    private func execute(_ executor: PipelineExecutor) async -> RunResult {
        let logger = executor.logger
        let resume: [String: Data]
        do {
            resume = try await executor.checkpoints.checkpoints(run: id)
        } catch {
            return finish(.failed, error: Self.nvisy(error), state: nil)
        }
        let state = RunState(runId: id, options: options, plan: plan, resume: resume)
        inner.withLock { $0.state = state }
        if !resume.isEmpty { logger.info("run resumes from its checkpoints", metadata: ["run": "\(id)", "sources": "\(resume.keys.sorted())"]) }

        // Instances.
        var instances: [String: any ProviderInstance] = [:]
        func closeAll() async {
            for i in instances.values { await i.close() }
            for step in plan.steps { if case .builtin(_, let t) = step.operation { await t.close() } }
        }
        do {
            for step in plan.steps {
                switch step.operation {
                case .source(let p, let c, let cr):
                    instances[step.id] = try await executor.host.makeSource(p, config: c, credentials: cr, options: options.callOptions)
                case .sink(let p, let c, let cr):
                    instances[step.id] = try await executor.host.makeSink(p, config: c, credentials: cr, options: options.callOptions)
                case .providerTransform(let p, let c):
                    instances[step.id] = try await executor.host.makeTransform(p, config: c, options: options.callOptions)
                case .builtin, .switch: break
                }
            }
        } catch {
            await closeAll()
            return finish(.failed, error: Self.nvisy(error), state: state)
        }

        // Channels: one inbox per node with inputs; producers = incoming edges.
        var inboxes: [String: Inbox] = [:]
        for step in plan.steps where !step.inputs.isEmpty { inboxes[step.id] = Inbox(producers: step.inputs.count) }
        let runners = plan.steps.map { step in
            var targets: [String: [Inbox]] = [:]
            for o in step.outputs { targets[step.kind == .switch ? (o.port ?? "default") : "", default: []].append(inboxes[o.to]!) }
            return NodeRunner(step: step, state: state, instance: instances[step.id], inbox: inboxes[step.id],
                              targets: targets, logger: logger)
        }

        let nodes = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for r in runners { group.addTask { try await r.run() } }
                // The first node that fails stops the others (waitForAll would wait for them).
                do {
                    while try await group.next() != nil {}
                } catch {
                    group.cancelAll()
                    throw error
                }
            }
        }
        let cancelledEarly = inner.withLock { i -> Bool in
            i.nodes = nodes
            return i.cancelRequested
        }
        if cancelledEarly { nodes.cancel() }

        let checkpointer = Task { await self.checkpointLoop(executor, state) }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: options.progressInterval)
                if Task.isCancelled { break }
                self.broadcast()
            }
        }

        let outcome = await nodes.result
        checkpointer.cancel()
        ticker.cancel()
        await checkpointer.value
        await ticker.value
        await closeAll()

        var status: RunStatus = .completed
        var failure: NvisyError?
        if case .failure(let error) = outcome {
            if let f = error as? RunFailure { status = .failed; failure = f.error }
            else if error is CancellationError || inner.withLock({ $0.cancelRequested }) { status = .cancelled }
            else { status = .failed; failure = Self.nvisy(error) }
        } else if inner.withLock({ $0.cancelRequested }) && state.trackers.values.contains(where: { $0.snapshot.pending > 0 }) {
            status = .cancelled
        }
        // The final checkpoint: only what every sink acknowledged (consistent whatever stopped the nodes).
        do {
            try await flush(executor, state, force: true)
        } catch {
            if status != .failed {
                status = .failed
                failure = NvisyError(.unavailable, "the run's last checkpoint could not be saved: \(Self.nvisy(error).message)", retry: .transient)
            }
        }
        logger.info("run ended", metadata: ["run": "\(id)", "status": "\(status.rawValue)", "error": "\(failure?.message ?? "")"])
        return finish(status, error: failure, state: state)
    }

    private func finish(_ status: RunStatus, error: NvisyError?, state: RunState?) -> RunResult {
        if state != nil { updateRates() }
        let progress = snapshot(status: status, error: error?.message)
        let result = RunResult(status: status, error: error, progress: progress)
        let subscribers = inner.withLock { i -> [AsyncStream<RunProgress>.Continuation] in
            i.status = status
            i.result = result
            defer { i.subscribers = [:] }
            return Array(i.subscribers.values)
        }
        for s in subscribers {
            s.yield(progress)
            s.finish()
        }
        return result
    }

    // MARK: Checkpoints

    private func checkpointLoop(_ executor: PipelineExecutor, _ state: RunState) async {
        var lastSave = ContinuousClock.now
        var savedItems = state.progressedItems
        // A gathering sink acknowledges a whole write (tens of thousands of rows) at once: look
        // sooner, so the checkpoint follows its commit by milliseconds and a crash in between
        // leaves less for the resumed run to write again. Saves still follow the cadence below
        // (about one per write), so polling more often costs no extra commits.
        let poll: Duration = options.sinkBatchSize.map { $0 > options.batchSize } == true ? .milliseconds(2) : .milliseconds(20)
        while !Task.isCancelled {
            try? await Task.sleep(for: poll)
            let done = state.progressedItems
            guard done - savedItems >= options.checkpointEveryItems
                    || (ContinuousClock.now - lastSave >= options.checkpointInterval && done != savedItems) else { continue }
            do {
                try await flush(executor, state, force: false)
                savedItems = done
                lastSave = ContinuousClock.now
            } catch {
                executor.logger.warning("checkpoint not saved; will retry", metadata: ["run": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Saves pending item errors, then the checkpoints (in that order: a checkpoint never
    /// passes an item whose error is not saved). Runs outside the run's cancellation.
    private func flush(_ executor: PipelineExecutor, _ state: RunState, force: Bool) async throws {
        let id = self.id
        try await Task.detached {
            let errors = state.takeErrors()
            do {
                try await executor.checkpoints.record(run: id, errors: errors)
            } catch {
                state.putBackErrors(errors)
                throw error
            }
            try await executor.checkpoints.save(run: id, checkpoints: state.checkpoints)
        }.value
    }

    // MARK: Progress

    private func broadcast() {
        updateRates()
        let progress = snapshot()
        let subscribers = inner.withLock { Array($0.subscribers.values) }
        for s in subscribers { s.yield(progress) }
    }

    private func updateRates() {
        guard let state = inner.withLock({ $0.state }) else { return }
        let now = ContinuousClock.now
        inner.withLock { i in
            let since = i.sampledAt.map { now - $0 } ?? (now - state.started)
            let seconds = max(0.001, Double(since.components.seconds) + Double(since.components.attoseconds) / 1e18)
            var total = 0.0
            for (id, c) in state.counters {
                let w = c.written.load(ordering: .relaxed)
                let r = Double(w - (i.samples[id] ?? 0)) / seconds
                i.rates[id] = r
                i.samples[id] = w
                if c.kind == .sink { total += r }
            }
            i.rate = total
            i.sampledAt = now
        }
    }

    private func snapshot(status: RunStatus, error: String?) -> RunProgress {
        let (state, rates, rate) = inner.withLock { ($0.state, $0.rates, $0.rate) }
        guard let state else {
            return RunProgress(runId: id, status: status, nodes: [], itemsPerSecond: 0, written: 0, failed: 0, inFlight: 0,
                               maxInFlight: 0, checkpoints: [], startedAt: Date(), elapsedSeconds: 0, error: error)
        }
        let nodes = state.order.map { id -> NodeProgress in
            let c = state.counters[id]!
            return NodeProgress(nodeId: id, kind: c.kind, read: c.read.load(ordering: .relaxed), written: c.written.load(ordering: .relaxed),
                                failed: c.failed.load(ordering: .relaxed), itemsPerSecond: rates[id] ?? 0,
                                expected: Self.expected(c))
        }
        let elapsed = ContinuousClock.now - state.started
        return RunProgress(
            runId: id, status: status, nodes: nodes, itemsPerSecond: rate,
            written: nodes.filter { $0.kind == .sink }.reduce(0) { $0 + $1.written },
            failed: state.errorCount.load(ordering: .relaxed),
            inFlight: state.inFlight.load(ordering: .relaxed), maxInFlight: state.maxInFlight.load(ordering: .relaxed),
            checkpoints: state.checkpoints, startedAt: state.startedAt,
            elapsedSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            etaSeconds: Self.eta(nodes), error: error)
    }

    /// A source's announced item count (nil: it cannot tell, or the node is not a source).
    static func expected(_ counters: NodeCounters) -> Int? {
        let n = counters.expected.load(ordering: .relaxed)
        return counters.kind == .source && n >= 0 ? n : nil
    }

    /// The slowest source's time left: remaining items over its current rate (nil when a source
    /// cannot count ahead, or has items left but none moved in the last interval).
    static func eta(_ nodes: [NodeProgress]) -> Double? {
        let sources = nodes.filter { $0.kind == .source }
        guard !sources.isEmpty else { return nil }
        var worst = 0.0
        for source in sources {
            guard let expected = source.expected else { return nil }
            let left = max(0, expected - source.read)
            if left == 0 { continue }
            guard source.itemsPerSecond > 0 else { return nil }
            worst = max(worst, Double(left) / source.itemsPerSecond)
        }
        return worst
    }

    static func nvisy(_ error: any Error) -> NvisyError {
        if let e = error as? NvisyError { return e }
        if let f = error as? RunFailure { return f.error }
        return NvisyError(.internal, "\(error)", retry: .permanent)
    }
}
