import Foundation

/// Runs nats.c's blocking calls (requests that wait for a server reply, fetches,
/// watcher reads, the object store's file I/O) on dedicated threads, never on
/// Swift's cooperative thread pool.
///
/// A libdispatch queue is not enough here: on Linux its worker pool for
/// concurrent queues is sized to the CPU count, so two pull consumers waiting in
/// a fetch would hold every worker and stall all other NATS calls. This pool
/// starts a thread whenever every thread is busy (up to ``BlockingPool/maxThreads``)
/// and lets idle threads exit after a while. Every blocking nats.c call has a
/// timeout, so no thread is held forever.
enum Blocking {
    static let pool = BlockingPool(name: "nvisy-nats-blocking")

    /// Runs `body` on a pool thread and resumes with its result.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            pool.submit {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Runs a non-throwing `body` on a pool thread.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            pool.submit { continuation.resume(returning: body()) }
        }
    }

    /// Runs `body` on a pool thread without waiting for it.
    static func detach(_ body: @escaping @Sendable () -> Void) {
        pool.submit(body)
    }
}

/// A thread pool that grows when all its threads are busy.
///
/// `@unchecked Sendable`: all mutable state (`jobs`, `idle`, `threads`) is read
/// and written only while holding `condition`'s lock.
final class BlockingPool: @unchecked Sendable {
    static let maxThreads = 512
    private let condition = NSCondition()
    /// Taken slots are set to nil, so trimming the array never releases a closure under the lock.
    private var jobs: [(@Sendable () -> Void)?] = []
    private var head = 0
    private var idle = 0
    private var threads = 0
    private let name: String
    private let idleTimeout: TimeInterval = 30

    init(name: String) { self.name = name }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        // Every queued job needs an idle thread of its own; otherwise start one.
        let spawn = jobs.count - head > idle && threads < Self.maxThreads
        if spawn { threads += 1 } else { condition.signal() }
        condition.unlock()
        if spawn {
            let t = Thread { [self] in work() }
            t.name = name
            t.stackSize = 1 << 20
            t.start()
        }
    }

    private func work() {
        condition.lock()
        while true {
            while head == jobs.count {
                idle += 1
                let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
                idle -= 1
                if !signalled && head == jobs.count {
                    threads -= 1
                    condition.unlock()
                    return
                }
            }
            var job = jobs[head]
            jobs[head] = nil
            head += 1
            if head > 64 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job?()
            // Release the closure before taking the lock again: it may hold the last reference
            // to an object whose deinit submits a job (ObjectReadSession does), which would
            // deadlock on this non-recursive lock.
            job = nil
            condition.lock()
        }
    }
}
