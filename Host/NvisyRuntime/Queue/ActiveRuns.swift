import Foundation
import Synchronization

/// The runs this host is executing right now, and why one of them is being stopped.
final class ActiveRuns: Sendable {
    /// Why a run this host executes stops before its end.
    enum StopReason: Sendable {
        /// A user asked to cancel it: it ends `cancelled`.
        case cancelRequested
        /// This host is shutting down: the run goes back to the queue and resumes elsewhere.
        case shutdown
        /// Another worker took the run over (this host missed its heartbeats): leave it alone.
        case leaseLost
    }

    private struct Entry {
        var run: PipelineRun
        var stop: StopReason?
    }
    private struct State {
        var entries: [UUID: Entry] = [:]
        var reserved = 0
        var stopping = false
    }
    private let state = Mutex(State())

    /// Whether the host is shutting down (no new runs are taken).
    var stopping: Bool { state.withLock { $0.stopping } }

    /// Slots in use (runs being claimed or executed).
    var reserved: Int { state.withLock { $0.reserved } }

    func reserve() { state.withLock { $0.reserved += 1 } }
    func release() { state.withLock { $0.reserved -= 1 } }

    /// Registers a started run; answers false (and the caller stops it) when shutdown began meanwhile.
    func add(_ run: PipelineRun) -> Bool {
        state.withLock {
            $0.entries[run.id] = Entry(run: run, stop: $0.stopping ? .shutdown : nil)
            return !$0.stopping
        }
    }

    func remove(_ id: UUID) -> StopReason? { state.withLock { $0.entries.removeValue(forKey: id)?.stop } }

    /// Stops run `id` for `reason` (the first reason wins).
    func stop(_ id: UUID, _ reason: StopReason) {
        let run = state.withLock { s -> PipelineRun? in
            guard var e = s.entries[id] else { return nil }
            if e.stop == nil { e.stop = reason }
            s.entries[id] = e
            return e.run
        }
        run?.cancel()
    }

    /// Begins the shutdown: every run stops and goes back to the queue.
    func stopAll() {
        let runs = state.withLock { s -> [PipelineRun] in
            s.stopping = true
            for (id, var e) in s.entries where e.stop == nil {
                e.stop = .shutdown
                s.entries[id] = e
            }
            return s.entries.values.map(\.run)
        }
        for r in runs { r.cancel() }
    }
}
