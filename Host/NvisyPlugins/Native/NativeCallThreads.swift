import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The threads that run native plugin calls in the default (`dedicatedThread`) mode: a small
/// pool of plain threads, never Swift's cooperative pool, so a plugin that blocks or hangs
/// holds one of these and nothing else.
///
/// Why not a dispatch queue per instance: every `async` onto an idle queue wakes a parked
/// thread (a futex wake, then the scheduler's latency), ≈ 10–30 µs per call, which at batch 64
/// cost more than the call itself. Here a thread that finishes a call stays *hot*: it spins for
/// up to ``spin`` looking for the next job before parking, and at most one thread spins at a
/// time. Back-to-back calls (a source's `next`, then a sink's `write`, then `next` ...) are all
/// picked up by that one hot thread without a system call, whichever instance they belong to,
/// so a pipeline keeps two threads busy (the caller's and the hot one) — what a 2-core machine
/// can afford. A thread stuck in a hung call is simply not hot any more: the next job wakes a
/// parked thread or starts a new one. Idle threads exit after ``idleExit``.
final class NativeCallThreads: Sendable {
    /// Work for a call thread: an object, so that scheduling it allocates nothing.
    protocol Work: AnyObject, Sendable {
        /// Runs on a call thread.
        func runOnCallThread()
    }

    /// The process's call threads.
    static let shared = NativeCallThreads()

    /// How long a thread that ran out of work spins before it parks.
    static let spin: Duration = .microseconds(50)
    /// How long a parked thread waits for work before it exits.
    static let idleExit: Duration = .seconds(30)

    private struct State {
        var queue: [any Work] = []
        var head = 0
        /// Whether one thread is spinning for work (then a new job needs no wake-up).
        var spinner = false
        /// Parked threads, most recently parked last (it is the warmest to wake).
        var parked: [Parked] = []
        var threads = 0

        mutating func pop() -> (any Work)? {
            guard head < queue.count else { return nil }
            let job = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            }
            return job
        }

        var isEmpty: Bool { head == queue.count }
    }

    /// A parked thread's wake-up call.
    private final class Parked: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
    }

    private let state = Mutex(State())
    /// Jobs queued: the spinner reads this without taking the lock.
    private let queued = Atomic<Int>(0)

    /// Runs `job` on a call thread, soon.
    func schedule(_ job: any Work) {
        let wake: Parked?? = state.withLock { s in
            s.queue.append(job)
            queued.add(1, ordering: .releasing)
            // A spinner takes the lock before it parks, so it will see this job.
            if s.spinner { return .some(nil) }
            return s.parked.popLast().map { .some($0) } ?? nil
        }
        switch wake {
        case .some(.some(let p)): p.semaphore.signal()
        case .some(.none): break
        case .none: startThread()
        }
    }

    private func startThread() {
        state.withLock { $0.threads += 1 }
        let thread = Thread { [self] in work() }
        thread.name = "nvisy.plugin-call"
        thread.stackSize = 8 << 20  // plugin code may recurse (parsers); the default is 512 KiB off the main thread
        thread.start()
    }

    /// Takes the next job; when more wait behind it and nobody will pick them up, wakes or
    /// starts another thread (the job taken may hang).
    private func take() -> (any Work)? {
        let (job, helper): ((any Work)?, Parked??) = state.withLock { s in
            guard let job = s.pop() else { return (nil, .some(nil)) }
            queued.subtract(1, ordering: .relaxed)
            if s.isEmpty || s.spinner { return (job, .some(nil)) }
            return (job, s.parked.popLast().map { .some($0) } ?? nil)
        }
        switch helper {
        case .some(.some(let p)): p.semaphore.signal()
        case .some(.none): break
        case .none: startThread()
        }
        return job
    }

    private func work() {
        let parked = Parked()
        while true {
            while let job = take() { job.runOnCallThread() }
            // Out of work: spin if no other thread does, else park.
            let spinning = NativeSpinPolicy.shared.spinningNow && state.withLock { s in
                if s.spinner { return false }
                s.spinner = true
                return true
            }
            if spinning, spinForWork() { continue }
            let park = state.withLock { s -> Bool in
                if spinning { s.spinner = false }
                guard s.isEmpty else { return false }
                s.parked.append(parked)
                return true
            }
            guard park else { continue }
            if parked.semaphore.wait(timeout: .now() + NativeCallThreads.idleExit.dispatchInterval) == .success { continue }
            // Timed out: leave, unless a scheduler popped this thread to wake it just now.
            let leave = state.withLock { s -> Bool in
                guard let i = s.parked.firstIndex(where: { $0 === parked }) else { return false }
                s.parked.remove(at: i)
                s.threads -= 1
                return true
            }
            if leave { return }
            parked.semaphore.wait()  // the signal that is on its way
        }
    }

    /// Spins (as the one spinner) until a job is queued or ``spin`` passes; answers whether
    /// work came. Gives the core away now and then: on a busy machine the thread that would
    /// queue the job may be waiting for this very core.
    private func spinForWork() -> Bool {
        let until = DispatchTime.now().uptimeNanoseconds + NativeCallThreads.spin.wholeNanoseconds
        var rounds = 0
        while true {
            if queued.load(ordering: .acquiring) > 0 {
                state.withLock { $0.spinner = false }
                return true
            }
            rounds += 1
            if rounds & 63 == 0 {
                if DispatchTime.now().uptimeNanoseconds >= until { return false }
                if rounds & 1023 == 0 { sched_yield() }
            }
        }
    }
}

extension Duration {
    /// Whole nanoseconds (saturating at 0 for negative durations).
    var wholeNanoseconds: UInt64 {
        let (s, a) = components
        guard s >= 0, a >= 0 else { return 0 }
        return UInt64(s) &* 1_000_000_000 &+ UInt64(a / 1_000_000_000)
    }

    var dispatchInterval: DispatchTimeInterval { .nanoseconds(Int(clamping: wholeNanoseconds)) }
}
