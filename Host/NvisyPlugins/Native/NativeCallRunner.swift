import Foundation
import NvisyCore

/// Runs one instance's blocking C calls, one at a time, with a timeout that is
/// signalled to the provider through `is_cancelled` and reported to the caller.
final class NativeCallRunner: @unchecked Sendable {
    let options: ProviderCallOptions
    let label: String
    private let queue: DispatchQueue
    private let lock = NSLock()
    private var stuck: String?
    private let watchdog = CallWatchdog()

    /// After the deadline a provider gets this long to notice `is_cancelled` before the
    /// host gives up waiting (the call keeps its thread; the instance is then unusable).
    static let grace: Duration = .milliseconds(500)

    init(label: String, options: ProviderCallOptions) {
        self.label = label
        self.options = options
        queue = DispatchQueue(label: "nvisy.plugin.\(label)")
    }

    /// Runs `body` (which makes the C call and returns its outcome) under `ctx`.
    func run<T: Sendable>(_ what: String, ctx: CallContextBox,
                          _ body: @escaping @Sendable () -> Result<T, NvisyError>) async throws -> T {
        if let s = lock.withLock({ stuck }) {
            throw NvisyError(.unavailable, "\(label): the instance is still stuck in `\(s)` after a timeout; make a new one",
                             retry: .transient)
        }
        try Task.checkCancellation()
        ctx.arm(timeout: options.timeout)
        let result: Result<T, NvisyError>
        switch options.isolation {
        case .callerThread:
            result = await withTaskCancellationHandler { body() } onCancel: { ctx.cancel() }
        case .dedicatedThread:
            result = await withTaskCancellationHandler {
                await withCheckedContinuation { (cont: CheckedContinuation<Result<T, NvisyError>, Never>) in
                    let once = ResumeOnce(cont)
                    // The deadline goes to the runner's one watchdog timer (a timer per call would
                    // leave a pending closure per call alive for the whole timeout).
                    var deadline: UInt64?
                    if let timeout = options.timeout {
                        let wait = timeout + NativeCallRunner.grace
                        let (s, a) = wait.components
                        let ns = Int(s) * 1_000_000_000 + Int(a / 1_000_000_000)
                        deadline = watchdog.add(deadline: .now() + .nanoseconds(ns)) { [self] in
                            // Mark the instance stuck before the caller can retry.
                            if let c = once.claim() {
                                lock.withLock { stuck = what }
                                c.resume(returning: .failure(timeoutError(what)))
                            }
                        }
                    }
                    queue.async { [self, deadline] in
                        let r = body()
                        if let deadline { watchdog.remove(deadline) }
                        // A call that outlived its timeout frees the instance when it finally returns.
                        if !once.resume(r) { lock.withLock { stuck = nil } }
                    }
                }
            } onCancel: { ctx.cancel() }
        }
        switch result {
        case .success(let v): return v
        case .failure(let e):
            if ctx.wasCancelled, Task.isCancelled { throw CancellationError() }
            if ctx.deadlinePassed, options.timeout != nil { throw timeoutError(what) }
            throw e
        }
    }

    /// Runs a call that cannot fail and must not wait (close, destroy) in call order.
    func post(_ body: @escaping @Sendable () -> Void) {
        switch options.isolation {
        case .callerThread: body()
        case .dedicatedThread: queue.async(execute: body)
        }
    }

    func timeoutError(_ what: String) -> NvisyError {
        NvisyError(.unavailable, "\(label): `\(what)` exceeded its timeout of \(options.timeout.map { "\($0)" } ?? "-") and was cancelled",
                   retry: .transient)
    }
}

/// Resumes a continuation exactly once; answers whether this call did.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var cont: CheckedContinuation<T, Never>?

    init(_ cont: CheckedContinuation<T, Never>) { self.cont = cont }

    @discardableResult
    func resume(_ value: T) -> Bool {
        guard let c = claim() else { return false }
        c.resume(returning: value)
        return true
    }

    /// Takes the continuation (once); the caller must resume it.
    func claim() -> CheckedContinuation<T, Never>? {
        lock.withLock {
            defer { cont = nil }
            return cont
        }
    }
}
