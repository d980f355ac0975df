import Hummingbird
import NvisyCore

/// Bounds every request: a body larger than the limit is refused with 413 (by its
/// Content-Length before reading, else while reading), and a request that takes longer than the
/// timeout is answered 503.
public struct RequestLimitsMiddleware: RouterMiddleware {
    public typealias Context = NvisyRequestContext
    let maxBodyBytes: Int
    let timeout: Duration
    /// Routes that stream their body and bound it themselves (file upload/download): neither
    /// limit applies to them.
    let isStreaming: @Sendable (Request) -> Bool
    let deadlines: DeadlineWatch

    public init(maxBodyBytes: Int, timeout: Duration, isStreaming: @escaping @Sendable (Request) -> Bool = { _ in false }) {
        self.maxBodyBytes = maxBodyBytes
        self.timeout = timeout
        self.isStreaming = isStreaming
        deadlines = DeadlineWatch(timeout: timeout)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if isStreaming(request) { return try await next(request, context) }
        var request = request
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw tooLarge()
        }
        if request.method != .get, request.method != .head {
            do {
                _ = try await request.collectBody(upTo: maxBodyBytes)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw tooLarge()
            }
        }
        let limit = timeout
        let deadline = ContinuousClock.now.advanced(by: limit)
        let deadlines = deadlines
        let pending = request
        // The handler is cancelled when the timer fires first; Postgres, NATS and HTTP calls
        // honour cancellation, so the request ends soon after with 503.
        return try await withoutActuallyEscaping(next) { next in
            nonisolated(unsafe) let next = next
            return try await withThrowingTaskGroup(of: Response?.self) { group in
                group.addTask { try await next(pending, context) }
                group.addTask {
                    guard await deadlines.sleep(until: deadline) else { throw CancellationError() }
                    return nil
                }
                do {
                    let first = try await group.next()!
                    group.cancelAll()
                    if let response = first { return response }
                } catch is CancellationError {
                    group.cancelAll()
                }
                throw NvisyError.unavailable("the request took longer than \(limit.components.seconds) s and was stopped; try again")
            }
        }
    }

    private func tooLarge() -> HTTPError {
        HTTPError(.contentTooLarge, message: "the request body is larger than \(maxBodyBytes) bytes")
    }
}
