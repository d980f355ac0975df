import Foundation
import NvisyCore
import NvisyPlugins
import Synchronization

/// Live counters of one node (lock-free).
final class NodeCounters: Sendable {
    let nodeId: String
    let kind: PipelineDefinition.Kind
    let read = Atomic<Int>(0)
    let written = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    /// For a source: the items it said it would read in this attempt (-1: it cannot tell).
    let expected = Atomic<Int>(-1)

    init(nodeId: String, kind: PipelineDefinition.Kind) {
        self.nodeId = nodeId
        self.kind = kind
    }
}

/// Why a run stops early (thrown out of a node task).
struct RunFailure: Error {
    var error: NvisyError
}

/// What a run's node tasks share: counters, trackers, errors, in-flight accounting.
final class RunState: Sendable {
    let runId: UUID
    let options: RunOptions
    let counters: [String: NodeCounters]
    let order: [String]
    let trackers: [String: SourceTracker]
    /// Provider transforms of objects/documents that are their source's only successor, by
    /// node id → the source's tracker: their outputs get derived tickets (``PartialCheckpoint``).
    let expanders: [String: SourceTracker]
    let startedAt = Date()
    let started = ContinuousClock.now

    let inFlight = Atomic<Int>(0)
    let maxInFlight = Atomic<Int>(0)
    let errorCount = Atomic<Int>(0)
    private let pendingErrors = Mutex<[RunItemError]>([])

    init(runId: UUID, options: RunOptions, plan: ExecutionPlan, resume: [String: Data]) {
        self.runId = runId
        self.options = options
        order = plan.steps.map(\.id)
        counters = Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.id, NodeCounters(nodeId: $0.id, kind: $0.kind)) })
        let trackers = Dictionary(uniqueKeysWithValues: plan.sources.map { ($0.id, SourceTracker(nodeId: $0.id, resumeToken: resume[$0.id])) })
        self.trackers = trackers
        var expanders: [String: SourceTracker] = [:]
        for source in plan.sources where source.outputs.count == 1 {
            guard let next = plan.step(source.outputs[0].to), next.inputs == [source.id],
                  case .providerTransform = next.operation, next.inputType == .object || next.inputType == .document else { continue }
            expanders[next.id] = trackers[source.id]
        }
        self.expanders = expanders
    }

    func sent(_ n: Int) {
        let now = inFlight.add(n, ordering: .relaxed).newValue
        var seen = maxInFlight.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = maxInFlight.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }

    func received(_ n: Int) { inFlight.subtract(n, ordering: .relaxed) }

    /// Records a permanent item error; answers the run's failure when the budget is spent.
    func record(node: String, item: ProviderItem, error: NvisyError) -> NvisyError? {
        counters[node]?.failed.add(1, ordering: .relaxed)
        let e = RunItemError(nodeId: node, itemToken: item.resumeTokenString, message: error.message, retry: error.retry)
        pendingErrors.withLock { $0.append(e) }
        let n = errorCount.add(1, ordering: .relaxed).newValue
        guard n > options.errorBudget else { return nil }
        return NvisyError(.invalidInput,
            "the run failed: \(n) items failed, more than its error budget of \(options.errorBudget); last: node \"\(node)\" item \(e.itemToken): \(error.message)",
            retry: .permanent)
    }

    func takeErrors() -> [RunItemError] { pendingErrors.withLock { let e = $0; $0 = []; return e } }

    func putBackErrors(_ errors: [RunItemError]) { pendingErrors.withLock { $0 = errors + $0 } }

    var checkpoints: [SourceCheckpoint] {
        trackers.values.sorted { $0.nodeId < $1.nodeId }.map {
            let s = $0.snapshot
            return SourceCheckpoint(nodeId: $0.nodeId, resumeToken: $0.savedToken, items: s.completed)
        }
    }

    /// Source items and derived outputs (rows of a file) completed: the checkpoint cadence.
    var progressedItems: Int { trackers.values.reduce(0) { $0 + $1.progressed } }
}
