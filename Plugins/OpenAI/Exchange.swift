import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP request in flight: what the URLSession delegate has received so far, handed
/// over to the provider's calling thread.
///
/// The ABI wants tokens delivered on the calling thread before `complete` returns, while
/// URLSession delivers bytes on its own delegate queue. So the delegate only appends to this
/// box and signals; the calling thread waits on the condition in short slices (so it can
/// also poll the host's cancellation) and takes what arrived.
///
/// `@unchecked Sendable`: every stored `var` is read and written only while `condition` is
/// locked (see `withLock`), and the `let`s are immutable; so sharing it between the delegate
/// queue and the calling thread is race-free.
final class Exchange: @unchecked Sendable {
    private let condition = NSCondition()
    private var status: Int?
    private var headers: [String: String] = [:]
    private var pending: [Data] = []
    private var failure: Error?
    private var finished = false

    /// What `take` hands to the calling thread.
    struct Snapshot {
        var status: Int?
        var headers: [String: String]
        var chunks: [Data]
        var failure: Error?
        var finished: Bool
    }

    private func withLock<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    func received(response: URLResponse) {
        withLock {
            if let http = response as? HTTPURLResponse {
                status = http.statusCode
                for (k, v) in http.allHeaderFields {
                    if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
                }
            }
            condition.broadcast()
        }
    }

    func received(data: Data) {
        withLock {
            pending.append(data)
            condition.broadcast()
        }
    }

    func completed(error: Error?) {
        withLock {
            failure = error
            finished = true
            condition.broadcast()
        }
    }

    /// Waits up to `seconds` for something new, then takes every chunk received so far.
    func take(waiting seconds: Double) -> Snapshot {
        condition.lock()
        defer { condition.unlock() }
        if pending.isEmpty && !finished {
            _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
        }
        let snapshot = Snapshot(status: status, headers: headers, chunks: pending, failure: failure, finished: finished)
        pending.removeAll()
        return snapshot
    }
}

/// Routes URLSession's delegate callbacks to the ``Exchange`` of each task.
///
/// `@unchecked Sendable`: `exchanges` is only touched while `lock` is held; URLSession calls
/// the delegate from its own queue while the provider thread registers and removes tasks.
final class SessionDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var exchanges: [Int: Exchange] = [:]

    func register(_ task: URLSessionTask, _ exchange: Exchange) {
        lock.withLock { exchanges[task.taskIdentifier] = exchange }
    }

    func remove(_ task: URLSessionTask) {
        _ = lock.withLock { exchanges.removeValue(forKey: task.taskIdentifier) }
    }

    private func exchange(_ task: URLSessionTask) -> Exchange? {
        lock.withLock { exchanges[task.taskIdentifier] }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        exchange(dataTask)?.received(response: response)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        exchange(dataTask)?.received(data: data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        exchange(task)?.completed(error: error)
    }
}
