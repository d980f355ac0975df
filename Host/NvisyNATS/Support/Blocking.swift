import Dispatch

/// Runs nats.c's blocking calls (requests that wait for a server reply, fetches,
/// watcher reads, file reads) off Swift's cooperative thread pool.
///
/// The queue is a private concurrent dispatch queue: its work items run on
/// libdispatch worker threads, which are not the threads of the cooperative
/// pool, so a call that blocks for seconds never starves other tasks. Every
/// blocking call that nats.c makes has a timeout, so no thread is held forever.
enum Blocking {
    static let queue = DispatchQueue(label: "nvisy.nats.blocking", qos: .default, attributes: .concurrent)

    /// Runs `body` on the blocking queue and resumes with its result.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            queue.async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Runs a non-throwing `body` on the blocking queue.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}
