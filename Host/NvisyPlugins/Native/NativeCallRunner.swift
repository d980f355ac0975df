import Foundation
import NvisyCore

/// Runs one instance's blocking C calls, one at a time and in call order, with a timeout
/// that is signalled to the provider through `is_cancelled` and reported to the caller.
///
/// In the default `dedicatedThread` mode a call runs on a ``NativeCallThreads`` thread, never
/// on Swift's cooperative pool. The caller spins for up to ``callerSpin`` for the result (a
/// direct call would keep its thread that long anyway) and only then suspends, so a short
/// call costs neither a suspension nor a wake-up; a long or hung one leaves the pool free,
/// and the runner's watchdog reports it after its timeout and marks the instance stuck.
///
/// `@unchecked Sendable`: `stuck`, `pending` and `active` are read and written only with
/// `lock` held; everything else is immutable or Sendable.
final class NativeCallRunner: NativeCallThreads.Work, @unchecked Sendable {
    let options: ProviderCallOptions
    let label: String
    private let lock = NSLock()
    private var stuck: String?
    /// Calls waiting for this instance, in order; `active` while a call thread drains them.
    private var pending: [@Sendable () -> Void] = []
    private var active = false
    private let watchdog = CallWatchdog()

    /// After the deadline a provider gets this long to notice `is_cancelled` before the
    /// host gives up waiting (the call keeps its thread; the instance is then unusable).
    static let grace: Duration = .milliseconds(500)

    /// How long a caller spins for a call's result before it suspends. Longer than a batch
    /// of 1024 trivial items takes to cross; a call longer than this pays one wake-up, small
    /// next to its own length.
    static let callerSpin: Duration = .microseconds(100)

    init(label: String, options: ProviderCallOptions) {
        self.label = label
        self.options = options
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
            let start = DispatchTime.now()
            let completion = NativeCallCompletion<T>()
            result = await withTaskCancellationHandler {
                submit { [self] in
                    // A call that outlived its timeout frees the instance when it finally returns.
                    let began = DispatchTime.now().uptimeNanoseconds
                    let r = body()
                    completion.finish(r, callTime: DispatchTime.now().uptimeNanoseconds &- began,
                                      onLate: { lock.withLock { stuck = nil } })
                }
                if NativeSpinPolicy.shared.shouldSpin(now: start.uptimeNanoseconds),
                   let r = completion.spinWait(for: NativeCallRunner.callerSpin.wholeNanoseconds, since: start.uptimeNanoseconds) { return r }
                // A long call: suspend, watched by the runner's one timer (a timer per call
                // would leave a pending closure per call alive for the whole timeout).
                var watch: UInt64?
                if let timeout = options.timeout {
                    let deadline = start + (timeout + NativeCallRunner.grace).dispatchInterval
                    watch = watchdog.add(deadline: deadline) { [self] in
                        // Mark the instance stuck before the caller can retry.
                        completion.expire(.failure(timeoutError(what)), onClaim: { lock.withLock { stuck = what } })
                    }
                }
                let r = await completion.wait()
                if let watch { watchdog.remove(watch) }
                return r
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
        case .dedicatedThread: submit(body)
        }
    }

    func timeoutError(_ what: String) -> NvisyError {
        NvisyError(.unavailable, "\(label): `\(what)` exceeded its timeout of \(options.timeout.map { "\($0)" } ?? "-") and was cancelled",
                   retry: .transient)
    }

    /// Queues `job` behind this instance's earlier calls.
    private func submit(_ job: @escaping @Sendable () -> Void) {
        let start = lock.withLock {
            pending.append(job)
            if active { return false }
            active = true
            return true
        }
        if start { NativeCallThreads.shared.schedule(self) }
    }

    /// Runs this instance's queued calls, in order (on a call thread).
    func runOnCallThread() {
        while let job = lock.withLock({ () -> (@Sendable () -> Void)? in
            if pending.isEmpty {
                active = false
                return nil
            }
            return pending.removeFirst()
        }) { job() }
    }
}

