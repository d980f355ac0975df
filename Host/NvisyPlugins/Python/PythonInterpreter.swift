import CPython
import Foundation
import Logging
import NvisyCore

/// The embedded CPython interpreter: one per process, started on first use, with one
/// dedicated thread that runs all Python code.
///
/// That thread initialises Python (so it is Python's main thread), imports the SDK's bridge
/// (`nvisy_plugin._host`) and runs an asyncio loop forever. Swift hands it work as jobs:
/// ``submit(_:)`` queues a closure and tells the loop (``PythonLoopWaker``: no system call
/// unless the thread is parked), and the loop runs the closure with the GIL held. Provider
/// calls are asyncio tasks (``call(_:context:timeout:onToken:queued:args:convert:)``), so many
/// instances interleave on the loop while Swift callers await without blocking the cooperative
/// pool; a task's end is reported back through a C function that resumes the caller.
///
/// `@unchecked Sendable`: `jobs`, `releases`, `pending`, `nextCallID`, `deadlines` and
/// `watchdogRunning` are touched only under `lock`; `waker`, `epollFD` and `startError` are
/// written before `start` returns (the first under `startLock`, the others on the Python thread
/// before it signals `ready`) and only read afterwards; `hostModule` is the Python thread's.
final class PythonInterpreter: @unchecked Sendable {
    /// The interpreter of this process, once started.
    nonisolated(unsafe) static var current: PythonInterpreter?
    private static let startLock = NSLock()

    /// A provider that keeps the Python thread busy past its timeout still gets this long
    /// before the caller is answered by the Swift watchdog.
    static let grace: Duration = .seconds(1)

    let venv: URL
    let logger: Logger
    private let lock = NSLock()
    private var jobs: [() -> Void] = []
    private var pending: [Int: any PendingPythonCall] = [:]
    private var nextCallID = 1
    /// Set by `start` before the Python thread runs, then only read.
    private var waker: PythonLoopWaker?
    /// The loop selector's epoll fd (`_host.setup`'s answer); set before the loop runs, read
    /// only by the Python thread.
    private var epollFD: Int32 = -1
    private var startError: NvisyError?
    /// `nvisy_plugin._host`; touched only on the Python thread.
    fileprivate(set) var hostModule: PyPtr?

    private init(venv: URL, logger: Logger) {
        self.venv = venv
        self.logger = logger
    }

    /// The process's interpreter, started with `venv` on first use. Python can be initialised
    /// once per process: a second venv is refused, and a failed start is reported every time.
    static func shared(venv: URL, logger: Logger) throws -> PythonInterpreter {
        try startLock.withLock {
            if let c = current {
                guard c.venv.standardizedFileURL.path == venv.standardizedFileURL.path else {
                    throw NvisyError.conflict(
                        "embedded Python already runs with the venv \(c.venv.path); one interpreter per process (asked for \(venv.path))")
                }
                if let e = c.startError { throw e }
                return c
            }
            let i = PythonInterpreter(venv: venv, logger: logger)
            current = i
            i.start()
            if let e = i.startError { throw e }
            return i
        }
    }

    // MARK: Thread

    private func start() {
        let python = venv.appendingPathComponent("bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            startError = NvisyError.unavailable(
                "no Python venv at \(venv.path) (\(python) is missing); create it with scripts/install-deps.sh or set NVISY_VENV")
            return
        }
        do {
            waker = try PythonLoopWaker()
        } catch {
            startError = NvisyError.unavailable((error as? PythonLoopWaker.WakerError)?.message ?? "\(error)")
            return
        }
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in run(python: python, ready: ready) }
        thread.name = "nvisy-python"
        thread.stackSize = 16 << 20
        thread.start()
        ready.wait()
    }

    private func run(python: String, ready: DispatchSemaphore) {
        let started = ContinuousClock.now
        _ = nvisy_tune_malloc_for_models()
        if let err = nvisy_py_initialize(python) {
            startError = NvisyError.unavailable("cannot initialise embedded Python with \(python): \(String(cString: err))")
            free(err)
            ready.signal()
            return
        }
        guard let host = PyImport_ImportModule("nvisy_plugin._host") else {
            let e = Py.currentError("import nvisy_plugin")
            startError = NvisyError.unavailable(
                "the nvisy_plugin SDK cannot be imported from the venv \(venv.path) (\(e.message)); install it with scripts/install-deps.sh")
            ready.signal()
            return
        }
        hostModule = host
        let drain = nvisy_py_cfunction("nvisy_drain", { _, _ in
            PythonInterpreter.current?.drain()
            return nvisy_py_none()
        }, nvisy_py_meth_noargs(), nil)!
        let done = nvisy_py_cfunction("nvisy_done", { _, arg in
            if let arg { PythonInterpreter.current?.finished(arg) }
            return nvisy_py_none()
        }, nvisy_py_meth_o(), nil)!
        let token = nvisy_py_cfunction("nvisy_token", { _, arg in
            if let arg { PythonInterpreter.current?.token(arg) }
            return nvisy_py_none()
        }, nvisy_py_meth_o(), nil)!
        // The selector's wait: spins, then parks, without the GIL (`PythonLoopWaker`).
        let park = nvisy_py_cfunction("nvisy_park", { _, arg in
            guard let i = PythonInterpreter.current, let waker = i.waker, let arg else { return nvisy_py_false() }
            let timeout = PyFloat_AsDouble(arg)
            if timeout == -1, PyErr_Occurred() != nil { return nil }
            if timeout == 0 || waker.hasJobs {  // just a look: no need to give the GIL away
                return waker.hasJobs ? nvisy_py_true() : nvisy_py_false()
            }
            let saved = PyEval_SaveThread()
            let queued = waker.wait(epoll: i.epollFD, timeout: timeout)
            PyEval_RestoreThread(saved)
            return queued ? nvisy_py_true() : nvisy_py_false()
        }, nvisy_py_meth_o(), nil)!
        do {
            let setup = PyObject_GetAttrString(host, "setup")!
            let fd = try Py.call(setup, [Py.int(Int(waker!.fd)), drain, done, token, park], context: "python setup")
            epollFD = Int32(PyLong_AsLong(fd))
            nvisy_py_decref(fd)
            nvisy_py_decref(setup)
        } catch {
            startError = error as? NvisyError ?? .internal("\(error)")
            ready.signal()
            return
        }
        let version = String(cString: Py_GetVersion()).split(separator: " ").first.map(String.init) ?? "?"
        logger.info("embedded Python started", metadata: [
            "version": "\(version)", "venv": "\(venv.path)", "ms": "\((ContinuousClock.now - started).components.attoseconds / 1_000_000_000_000_000)"])
        ready.signal()
        let runForever = PyObject_GetAttrString(host, "run_forever")!
        if (try? Py.call(runForever, [], context: "python loop")) == nil {
            logger.critical("the embedded Python loop stopped; Python providers no longer answer")
        }
    }

    // MARK: Jobs

    /// Queues `job` to run on the Python thread with the GIL held. Jobs must not leave a
    /// Python exception set. Never blocks.
    func submit(_ job: @escaping () -> Void) {
        lock.withLock { jobs.append(job) }
        waker?.notify()
    }

    /// Drops a reference on the Python thread, without waking it: references pile up until
    /// the thread next runs jobs (or `releaseWakeCount` of them are waiting). A batch handed
    /// between Python providers dies after every call; waking the thread just to free it
    /// would cost as much as the call.
    func release(_ object: PyPtr) {
        let wake = lock.withLock {
            releases.append(UnsafeSendablePointer(object))
            return releases.count == PythonInterpreter.releaseWakeCount && jobs.isEmpty
        }
        if wake { submit {} }
    }

    private static let releaseWakeCount = 64
    private var releases: [UnsafeSendablePointer] = []

    private func drain() {
        waker?.taking()
        let (batch, dropped) = lock.withLock {
            defer {
                jobs.removeAll(keepingCapacity: true)
                releases.removeAll(keepingCapacity: true)
            }
            return (jobs, releases)
        }
        for p in dropped { nvisy_py_decref(p.pointer) }
        for job in batch { job() }
    }

    /// Runs `body` on the Python thread and answers its result.
    func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            submit { cont.resume(with: Result { try body() }) }
        }
    }

    // MARK: Calls

    /// Starts an asyncio task on the loop and waits for it.
    ///
    /// - `function`: the name of a coroutine function of `nvisy_plugin._host`.
    /// - `args`: builds its arguments (new references) on the Python thread.
    /// - `convert`: turns the result into Swift on the Python thread (the result is borrowed).
    /// - `timeout`: enforced twice: the loop cancels the task at the deadline (the provider sees
    ///   `CancelledError`), and a Swift watchdog answers the caller `grace` later even if the
    ///   Python thread is blocked by synchronous code.
    /// - `queued`: runs once the call is queued (so that work it triggers comes after it).
    func call<T: Sendable>(_ function: String, context: String, timeout: Duration?, onToken: (@Sendable (String) -> Void)? = nil,
                           queued: (@Sendable () -> Void)? = nil,
                           args: @escaping @Sendable (Int) throws -> [PyPtr?],
                           convert: @escaping @Sendable (PyPtr) throws -> T) async throws -> T {
        try Task.checkCancellation()
        let id = newCallID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
                start(id, function, context: context, timeout: timeout, onToken: onToken, args: args, convert: convert) {
                    cont.resume(with: $0)
                }
                queued?()
            }
        } onCancel: {
            cancel(id)
        }
    }

    /// A new id for ``start(_:_:context:timeout:onToken:args:convert:completion:)``.
    func newCallID() -> Int {
        lock.withLock {
            defer { nextCallID += 1 }
            return nextCallID
        }
    }

    /// Starts call `id` (see ``call(_:context:timeout:onToken:args:convert:)``) without
    /// waiting: `completion` gets its result once, on the Python thread (or the watchdog's).
    func start<T: Sendable>(_ id: Int, _ function: String, context: String, timeout: Duration?,
                            onToken: (@Sendable (String) -> Void)? = nil,
                            args: @escaping @Sendable (Int) throws -> [PyPtr?],
                            convert: @escaping @Sendable (PyPtr) throws -> T,
                            completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        let seconds = timeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
        let call = PendingCall(context: context, convert: convert, onToken: onToken, completion: completion)
        lock.withLock { pending[id] = call }
        submit { [self] in
            guard let host = hostModule else { return }
            do {
                let start = PyObject_GetAttrString(host, "start")!
                defer { nvisy_py_decref(start) }
                guard let fn = PyObject_GetAttrString(host, function) else { throw Py.currentError(context) }
                let built = try args(id)
                let argTuple = Py.tuple(built)
                nvisy_py_decref(try Py.call(start, [Py.int(id), Py.double(seconds), fn, argTuple], context: context))
            } catch {
                if let p = removePending(id) { p.fail(error) }
            }
        }
        if let timeout { armWatchdog(id, deadline: .now + timeout + PythonInterpreter.grace, timeout: timeout) }
    }

    /// Cancels call `id` (its task sees `CancelledError`; the caller gets a `CancellationError`).
    func cancel(_ id: Int) {
        submit { [self] in cancelTask(id) }
    }

    // MARK: Watchdog

    private var deadlines: [Int: (ContinuousClock.Instant, Duration)] = [:]
    private var watchdogRunning = false

    /// One task checks every 100 ms for calls past their deadline (the Python side cancels a
    /// task at its timeout; this answers the caller even when the Python thread is blocked).
    private func armWatchdog(_ id: Int, deadline: ContinuousClock.Instant, timeout: Duration) {
        let start = lock.withLock {
            deadlines[id] = (deadline, timeout)
            defer { watchdogRunning = true }
            return !watchdogRunning
        }
        guard start else { return }
        Task.detached { [self] in
            while true {
                try? await Task.sleep(for: .milliseconds(100))
                let now = ContinuousClock.now
                let expired: [(Int, Duration, any PendingPythonCall)] = lock.withLock {
                    var out: [(Int, Duration, any PendingPythonCall)] = []
                    for (id, (deadline, timeout)) in deadlines {
                        guard let call = pending[id] else { deadlines[id] = nil; continue }
                        if deadline <= now {
                            deadlines[id] = nil
                            pending[id] = nil
                            out.append((id, timeout, call))
                        }
                    }
                    return out
                }
                for (id, timeout, call) in expired {
                    call.fail(NvisyError(.unavailable,
                        "\(call.context): exceeded its timeout of \(timeout) and did not stop (a provider is blocking the Python thread with synchronous code)",
                        retry: .transient))
                    submit { [self] in cancelTask(id) }
                }
            }
        }
    }

    private func removePending(_ id: Int) -> (any PendingPythonCall)? {
        lock.withLock {
            deadlines[id] = nil
            return pending.removeValue(forKey: id)
        }
    }

    private func cancelTask(_ id: Int) {
        guard let host = hostModule, let cancel = PyObject_GetAttrString(host, "cancel") else { return }
        defer { nvisy_py_decref(cancel) }
        if let r = try? Py.call(cancel, [Py.int(id)], context: "cancel") { nvisy_py_decref(r) }
    }

    /// `_host._finish` reports `(id, status, value)`: 0 ok, 1 `(kind, message)`, 2 cancelled.
    private func finished(_ arg: PyPtr) {
        guard nvisy_py_tuple_check(arg) != 0, nvisy_py_tuple_size(arg) == 3 else { return }
        let id = Int(PyLong_AsLongLong(nvisy_py_tuple_get(arg, 0)))
        let status = PyLong_AsLongLong(nvisy_py_tuple_get(arg, 1))
        guard let call = removePending(id) else { return }  // answered already (watchdog)
        let value = nvisy_py_tuple_get(arg, 2)!
        switch status {
        case 0: call.complete(value)
        case 2: call.fail(CancellationError())
        default: call.fail(PythonError.error(from: value, context: call.context))
        }
    }

    /// `_host.complete`'s `on_token` reports `(id, token)`.
    private func token(_ arg: PyPtr) {
        guard nvisy_py_tuple_check(arg) != 0, nvisy_py_tuple_size(arg) == 2 else { return }
        let id = Int(PyLong_AsLongLong(nvisy_py_tuple_get(arg, 0)))
        guard let text = Py.text(nvisy_py_tuple_get(arg, 1)!) else { return }
        let call = lock.withLock { pending[id] }
        call?.emit(text)
    }
}

protocol PendingPythonCall: AnyObject, Sendable {
    var context: String { get }
    /// Converts the result (on the Python thread) and resumes the caller.
    func complete(_ value: PyPtr)
    func fail(_ error: any Error)
    func emit(_ token: String)
}

final class PendingCall<T: Sendable>: PendingPythonCall, Sendable {
    let context: String
    private let convert: @Sendable (PyPtr) throws -> T
    private let onToken: (@Sendable (String) -> Void)?
    private let completion: @Sendable (Result<T, any Error>) -> Void

    init(context: String, convert: @escaping @Sendable (PyPtr) throws -> T, onToken: (@Sendable (String) -> Void)?,
         completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        self.context = context
        self.convert = convert
        self.onToken = onToken
        self.completion = completion
    }

    func complete(_ value: PyPtr) {
        completion(Result { try convert(value) })
    }

    func fail(_ error: any Error) { completion(.failure(error)) }

    func emit(_ token: String) { onToken?(token) }
}
