import Foundation
import NvisyCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The result of one call handed to a call thread, claimed exactly once: by the call thread
/// when the call returns, or by the watchdog when it does not return in time.
///
/// The caller first *spins* for the result (``spinWait(for:)``), as a direct call would keep
/// its thread busy for the call's length anyway; a call that returns within that window costs
/// no suspension and no wake-up. Only a longer call suspends the calling task
/// (``wait()``), leaving its cooperative thread free; the call thread (or the watchdog)
/// then resumes it.
///
/// `@unchecked Sendable`: `result`, `continuation` and `claimed` are read and written only
/// with `lock` held; `done` is an atomic that is set (releasing) after `result` is stored,
/// so a caller that sees it set (acquiring) then reads `result` under the lock.
final class NativeCallCompletion<T: Sendable>: @unchecked Sendable {
    typealias Outcome = Result<T, NvisyError>

    private let lock = NSLock()
    private var result: Outcome?
    private var continuation: CheckedContinuation<Outcome, Never>?
    private var claimed = false
    private let done = Atomic<Bool>(false)
    /// How long the call itself ran on its call thread, in nanoseconds (set before `done`).
    private var callTime: UInt64 = 0

    /// Delivers `outcome` unless the call was already claimed; `onLate` runs (with the claim
    /// settled, before anyone is resumed) when it was. Answers whether this delivered.
    @discardableResult
    func finish(_ outcome: Outcome, callTime: UInt64, onLate: () -> Void = {}) -> Bool {
        deliver(outcome, onClaim: { self.callTime = callTime }, onLate: onLate)
    }

    /// Delivers a timeout unless the call already returned; `onClaim` runs first (to mark the
    /// instance stuck before the caller can retry). Answers whether this delivered.
    @discardableResult
    func expire(_ outcome: Outcome, onClaim: () -> Void) -> Bool {
        deliver(outcome, onClaim: onClaim, onLate: {})
    }

    private func deliver(_ outcome: Outcome, onClaim: () -> Void, onLate: () -> Void) -> Bool {
        let waiting: CheckedContinuation<Outcome, Never>?? = lock.withLock {
            if claimed {
                onLate()
                return nil
            }
            claimed = true
            onClaim()
            defer { continuation = nil }
            result = outcome
            return .some(continuation)
        }
        guard let waiting else { return false }
        done.store(true, ordering: .releasing)
        waiting?.resume(returning: outcome)
        return true
    }

    /// Spins for up to `budget` for the result; nil when it has not come by then. Reports the
    /// hand-off overhead of a call that came, started at `start`, to ``NativeSpinPolicy``.
    func spinWait(for budget: UInt64, since start: UInt64?) -> Outcome? {
        let until = DispatchTime.now().uptimeNanoseconds &+ budget
        var rounds = 0
        while true {
            if done.load(ordering: .acquiring) {
                let now = DispatchTime.now().uptimeNanoseconds
                let (r, t) = lock.withLock { (result, callTime) }
                if let start {
                    let wall = now &- start
                    NativeSpinPolicy.shared.record(overhead: wall > t ? wall - t : 0, now: now)
                }
                return r
            }
            rounds += 1
            if rounds & 63 == 0 {
                if DispatchTime.now().uptimeNanoseconds >= until { return nil }
                if rounds & 1023 == 0 { sched_yield() }
            }
        }
    }

    /// Suspends until the result is delivered.
    func wait() async -> Outcome {
        await withCheckedContinuation { (c: CheckedContinuation<Outcome, Never>) in
            let ready: Outcome? = lock.withLock {
                if let result { return result }
                continuation = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}
