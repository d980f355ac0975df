import Foundation
import Synchronization

/// Whether handing native calls over by *spinning* pays on this machine right now.
///
/// The embedded Python thread asks it too before it spins for work
/// (``PythonLoopWaker``), and reports the hand-offs its spins catch.
///
/// A spinning hand-off (a call thread polling for the next job, a caller polling for its
/// result) costs well under a microsecond — when both threads have a core. When the machine
/// has more runnable threads than cores, a spinner burns the CPU share the other thread
/// needs and every hand-off waits for a time slice; blocking (a futex wake) is then the
/// better deal, because the kernel favours a thread that was asleep when it wakes.
///
/// The load is not read from the system (in a container `/proc/loadavg` counts the whole
/// host, and CPU quotas do not show): the policy measures what spinning actually costs. Every
/// spun call reports its hand-off overhead (its wall time minus the call's own time on the
/// call thread); when more than 1 in 8 of a window of calls took longer than
/// ``slowHandOff``, the policy blocks for a back-off period, then tries spinning again. The
/// back-off doubles while tries keep failing (up to ``maxBackOff``), so a busy machine pays
/// for one short try now and then.
final class NativeSpinPolicy: Sendable {
    /// The process's policy (the machine is shared by all instances).
    static let shared = NativeSpinPolicy()

    /// A spun hand-off slower than this means a thread was waiting for a core.
    static let slowHandOff: UInt64 = 15_000  // 15 µs
    /// Calls per verdict.
    static let window = 128
    static let minBackOff: UInt64 = 20_000_000  // 20 ms
    static let maxBackOff: UInt64 = 1_000_000_000  // 1 s

    private let spinning = Atomic<Bool>(true)
    /// While blocking: when to try spinning again.
    private let retryAt = Atomic<UInt64>(0)
    private let backOff = Atomic<UInt64>(NativeSpinPolicy.minBackOff)
    private let calls = Atomic<Int>(0)
    private let slow = Atomic<Int>(0)

    /// Whether a caller should spin for its result; `now` is `DispatchTime.now().uptimeNanoseconds`.
    func shouldSpin(now: UInt64) -> Bool {
        if spinning.load(ordering: .relaxed) { return true }
        let at = retryAt.load(ordering: .relaxed)
        guard now >= at, retryAt.compareExchange(expected: at, desired: .max, ordering: .relaxed).exchanged else { return false }
        calls.store(0, ordering: .relaxed)
        slow.store(0, ordering: .relaxed)
        spinning.store(true, ordering: .relaxed)
        return true
    }

    /// Whether a call thread should spin for its next job.
    var spinningNow: Bool { spinning.load(ordering: .relaxed) }

    /// Reports one spun call's hand-off overhead, in nanoseconds.
    func record(overhead: UInt64, now: UInt64) {
        if overhead > NativeSpinPolicy.slowHandOff { slow.add(1, ordering: .relaxed) }
        guard calls.add(1, ordering: .relaxed).newValue >= NativeSpinPolicy.window else { return }
        // One reporter closes the window (the others' counts may land in the next one).
        guard calls.exchange(0, ordering: .relaxed) >= NativeSpinPolicy.window else { return }
        let slowCalls = slow.exchange(0, ordering: .relaxed)
        if slowCalls * 8 > NativeSpinPolicy.window {
            let wait = backOff.load(ordering: .relaxed)
            backOff.store(min(wait * 2, NativeSpinPolicy.maxBackOff), ordering: .relaxed)
            retryAt.store(now &+ wait, ordering: .relaxed)
            spinning.store(false, ordering: .relaxed)
        } else {
            backOff.store(NativeSpinPolicy.minBackOff, ordering: .relaxed)
        }
    }
}
