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

    /// A call handed to a call thread (``start(_:ctx:_:)``), answered by ``finish(_:)``.
    struct Call<T: Sendable>: Sendable {
        let what: String
        let ctx: CallContextBox
        let completion: NativeCallCompletion<T>
        let start: DispatchTime
    }

    /// Runs `body` (which makes the C call and returns its outcome) under `ctx`.
    func run<T: Sendable>(_ what: String, ctx: CallContextBox,
                          _ body: @escaping @Sendable () -> Result<T, NvisyError>) async throws -> T {
        switch options.isolation {
        case .callerThread:
            try checkUsable()
            try Task.checkCancellation()
            ctx.arm(timeout: options.timeout)
            let result = await withTaskCancellationHandler { body() } onCancel: { ctx.cancel() }
            return try answer(result, what, ctx)
        case .dedicatedThread:
            try Task.checkCancellation()
            return try await finish(try start(what, ctx: ctx, body))
        }
    }

    /// Hands `body` to a call thread (behind this instance's earlier calls) and returns at
    /// once; the timeout counts from now. Only in `dedicatedThread` mode.
    func start<T: Sendable>(_ what: String, ctx: CallContextBox,
                            _ body: @escaping @Sendable () -> Result<T, NvisyError>) throws -> Call<T> {
        try checkUsable()
        ctx.arm(timeout: options.timeout)
        let call = Call(what: what, ctx: ctx, completion: NativeCallCompletion<T>(), start: DispatchTime.now())
        let completion = call.completion
        submit { [self] in
            let began = DispatchTime.now().uptimeNanoseconds
            let r = body()
            // A call that outlived its timeout frees the instance when it finally returns.
            completion.finish(r, callTime: DispatchTime.now().uptimeNanoseconds &- began,
                              onLate: { lock.withLock { stuck = nil } })
        }
        return call
    }

    /// Waits for a started call: spins briefly (reporting the hand-off's cost to the spin
    /// policy when `measured`: a call started ahead of time measures nothing), then suspends,
    /// watched by the runner's one timer (a timer per call would leave a pending closure per
    /// call alive for the whole timeout).
    func finish<T: Sendable>(_ call: Call<T>, measured: Bool = true) async throws -> T {
        let completion = call.completion
        let result = await withTaskCancellationHandler {
            let now = measured ? call.start.uptimeNanoseconds : DispatchTime.now().uptimeNanoseconds
            if NativeSpinPolicy.shared.shouldSpin(now: now),
               let r = completion.spinWait(for: NativeCallRunner.callerSpin.wholeNanoseconds, since: measured ? now : nil) {
                return r
            }
            var watch: UInt64?
            if let timeout = options.timeout {
                let deadline = call.start + (timeout + NativeCallRunner.grace).dispatchInterval
                watch = watchdog.add(deadline: deadline) { [self] in
                    // Mark the instance stuck before the caller can retry.
                    completion.expire(.failure(timeoutError(call.what)), onClaim: { lock.withLock { stuck = call.what } })
                }
            }
            let r = await completion.wait()
            if let watch { watchdog.remove(watch) }
            return r
        } onCancel: { call.ctx.cancel() }
        return try answer(result, call.what, call.ctx)
    }

    private func checkUsable() throws {
        if let s = lock.withLock({ stuck }) {
            throw NvisyError(.unavailable, "\(label): the instance is still stuck in `\(s)` after a timeout; make a new one",
                             retry: .transient)
        }
    }

    private func answer<T>(_ result: Result<T, NvisyError>, _ what: String, _ ctx: CallContextBox) throws -> T {
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

