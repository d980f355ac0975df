import Synchronization

/// Request deadlines kept by one shared sweeper instead of a timer per request.
///
/// `Task.sleep` arms a libdispatch timer, and arming or cancelling one wakes dispatch's manager
/// thread (an eventfd write and a context switch): for every request, though almost none ever
/// reaches its deadline. Here a request only puts a continuation in a table; one task wakes every
/// `granularity` while any deadline is pending and resumes the ones that passed. A deadline may
/// fire up to one `granularity` late, which is why it is a small fraction of the timeout.
final class DeadlineWatch: Sendable {
    /// How often the sweeper looks while deadlines are pending.
    let granularity: Duration

    private struct Pending {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var pending: [UInt64: Pending] = [:]
        var nextID: UInt64 = 0
        var sweeping = false
    }

    private let state = Mutex(State())

    init(granularity: Duration) {
        self.granularity = granularity
    }

    /// A watch for requests bounded by `timeout`: it looks 20 times per timeout, at most once a
    /// second and at least every 5 ms.
    convenience init(timeout: Duration) {
        self.init(granularity: min(.seconds(1), max(.milliseconds(5), timeout / 20)))
    }

    /// Suspends until `deadline` has passed (true) or the calling task is cancelled (false).
    func sleep(until deadline: ContinuousClock.Instant) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // Cancellation sets the flag before running `onCancel`, so a cancel that found
                // nothing to resume is seen here, under the same lock.
                let (answer, startSweeper) = state.withLock { state -> (Bool?, Bool) in
                    if Task.isCancelled { return (false, false) }
                    state.pending[id] = Pending(deadline: deadline, continuation: continuation)
                    let start = !state.sweeping
                    state.sweeping = true
                    return (nil, start)
                }
                if let answer { continuation.resume(returning: answer) }
                if startSweeper { Task.detached { await self.sweep() } }
            }
        } onCancel: {
            let pending = state.withLock { $0.pending.removeValue(forKey: id) }
            pending?.continuation.resume(returning: false)
        }
    }

    /// Resumes passed deadlines every `granularity`; ends when none is pending (the next
    /// `sleep` starts a new sweeper).
    private func sweep() async {
        while true {
            try? await Task.sleep(for: granularity)
            let now = ContinuousClock.now
            let (due, more) = state.withLock { state -> ([CheckedContinuation<Bool, Never>], Bool) in
                var due: [CheckedContinuation<Bool, Never>] = []
                for (id, pending) in state.pending where pending.deadline <= now {
                    due.append(pending.continuation)
                    state.pending[id] = nil
                }
                if state.pending.isEmpty { state.sweeping = false }
                return (due, state.sweeping)
            }
            for continuation in due { continuation.resume(returning: true) }
            if !more { return }
        }
    }
}
