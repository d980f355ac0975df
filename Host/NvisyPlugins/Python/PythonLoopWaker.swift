import CPython
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How work queued by Swift reaches the Python thread's asyncio loop, with a system call only
/// when that thread is really asleep.
///
/// The loop's selector (`nvisy_plugin._host._HostSelector`) asks ``wait(epoll:timeout:)``
/// before every poll (the GIL released) whether jobs are queued. When none are, the thread
/// first *spins* for up to ``spin``, watching the queue flag and, now and then, its epoll set;
/// only then does it *park* in `epoll_wait`. ``notify()`` writes the eventfd only for a parked
/// thread. A batch flowing source → sink queues a job every few tens of microseconds, so
/// most jobs find the thread running or spinning: no eventfd write, no epoll wake-up, no
/// context switch (each was ≈ 10 µs of a call's ≈ 40 µs). The spin is bounded and asks
/// ``NativeSpinPolicy`` first, which stops all spinning while the machine has no core to
/// spare; an idle host parks after one spin window and burns nothing.
///
/// Nothing is ever missed: the parking thread sets `sleeping` under `state`'s lock only after
/// seeing no job queued, in the same critical section; ``notify()`` raises `queued` *before*
/// it takes that lock and writes the eventfd (inside it) when it finds `sleeping`. Whichever
/// critical section comes first, the other sees its write: either the parker sees the job, or
/// the notifier sees the sleeper and wakes it. The eventfd is written under the lock and read
/// back by the parker under it, so it is never left readable behind the selector's back.
final class PythonLoopWaker: Sendable {
    /// How long the Python thread spins for work before it parks (as the native call threads do).
    static let spin: Duration = .microseconds(50)

    private struct State {
        /// The Python thread is in (or about to enter) its blocking `epoll_wait`.
        var sleeping = false
        /// The eventfd was written for this sleep.
        var woken = false
    }

    /// The eventfd registered in the loop's selector (a reader that drains the jobs).
    let fd: Int32
    private let state = Mutex(State())
    /// Jobs are queued (raised by ``notify()``, lowered by ``taking()``).
    private let queued = Atomic<Bool>(false)
    /// When `queued` was last raised (`DispatchTime` nanoseconds): a spin that catches the job
    /// reports the hand-off's latency to ``NativeSpinPolicy``.
    private let queuedAt = Atomic<UInt64>(0)

    /// A new eventfd, or a message saying why not.
    init() throws {
        let fd = nvisy_eventfd()
        guard fd >= 0 else { throw WakerError(message: "cannot create the Python wake eventfd: \(String(cString: strerror(errno)))") }
        self.fd = fd
    }

    deinit { close(fd) }

    struct WakerError: Error { let message: String }

    /// A job was queued: wakes the Python thread if it is parked. Never blocks for long.
    func notify() {
        if !queued.exchange(true, ordering: .sequentiallyConsistent) {
            queuedAt.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        }
        state.withLock { s in
            guard s.sleeping, !s.woken else { return }
            s.woken = true
            var one: UInt64 = 1
            _ = write(fd, &one, 8)
        }
    }

    /// The Python thread is about to take every queued job (lowered first: a job queued after
    /// this raises it again, even if the take already got it — one empty drain, never a lost job).
    func taking() {
        queued.store(false, ordering: .sequentiallyConsistent)
    }

    /// Whether jobs are queued right now.
    var hasJobs: Bool { queued.load(ordering: .acquiring) }

    /// On the Python thread, without the GIL: waits until jobs are queued, an fd of `epoll` is
    /// ready or `timeout` seconds pass (< 0: no limit; 0: just look). Answers whether jobs are
    /// queued; the selector polls `epoll` itself afterwards.
    func wait(epoll: Int32, timeout: Double) -> Bool {
        if hasJobs { return true }
        if timeout == 0 { return false }
        let start = DispatchTime.now().uptimeNanoseconds
        let limit: UInt64 = timeout < 0 ? .max : start &+ UInt64(min(timeout, 1e6) * 1e9)
        let policy = NativeSpinPolicy.shared
        if policy.shouldSpin(now: start) {
            let until = min(start &+ PythonLoopWaker.spin.wholeNanoseconds, limit)
            var rounds = 0
            while true {
                if hasJobs {
                    let now = DispatchTime.now().uptimeNanoseconds
                    let at = queuedAt.load(ordering: .relaxed)
                    if at >= start { policy.record(overhead: now > at ? now - at : 0, now: now) }
                    return true
                }
                rounds += 1
                if rounds & 63 == 0 {
                    if DispatchTime.now().uptimeNanoseconds >= until { break }
                    // Sockets and timers of providers still count (level-triggered: the
                    // selector's own poll then sees the same events).
                    if rounds & 1023 == 0 {
                        if nvisy_epoll_wait_one(epoll, 0) > 0 { return hasJobs }
                        if rounds & 4095 == 0 { sched_yield() }
                    }
                }
            }
        }
        let now = DispatchTime.now().uptimeNanoseconds
        if now >= limit { return hasJobs }
        let park = state.withLock { s -> Bool in
            if hasJobs { return false }
            s.sleeping = true
            return true
        }
        guard park else { return true }
        let ms: Int32 = limit == .max ? -1 : Int32(clamping: (limit - now + 999_999) / 1_000_000)
        _ = nvisy_epoll_wait_one(epoll, ms)  // EINTR: a spurious wake-up, the loop polls again
        state.withLock { s in
            if s.woken {
                var value: UInt64 = 0
                _ = read(fd, &value, 8)
            }
            s.sleeping = false
            s.woken = false
        }
        return hasJobs
    }
}
