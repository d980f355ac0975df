import CPython
import Foundation
import NvisyCore

/// A `_host.Cursor` over what a Python source's `read` or a transform returned, pulled one
/// batch ahead.
///
/// When ``next(maxItems:)`` hands out a batch it starts the pull of the following one, so the
/// Python thread pulls while the consumer uses the batch. The usual consumer writes it to a
/// sink: that call then finds the Python thread awake and, when it returns, the next batch
/// already waiting — one wake of the Python thread and one of the consumer per batch instead
/// of two each (thread hand-offs, not item conversion, are what a batch between Python
/// providers costs). The provider runs at most one batch ahead of the consumer; pulls of one
/// cursor never overlap. A read-ahead's error is thrown by the `next` that would have started
/// it; closing the cursor cancels a read-ahead still running.
final class PythonCursor: BatchCursor, @unchecked Sendable {
    typealias Batch = [ProviderItem]?

    let instance: PythonProviderInstance
    let cursor: PyRef
    let what: String
    private let lock = NSLock()
    // Guarded by `lock` (hence `@unchecked Sendable`):
    private var closed = false
    private var ended = false
    /// The pull started ahead: its call id, then its result, or the consumer awaiting it.
    private var ahead: Ahead?
    /// Items of a read-ahead beyond what a smaller `next` asked for, handed out first.
    private var leftover: [ProviderItem] = []

    private struct Ahead {
        let id: Int
        var result: Result<Batch, any Error>?
        var waiter: CheckedContinuation<Batch, any Error>?
    }

    init(instance: PythonProviderInstance, cursor: PyRef, what: String) {
        self.instance = instance
        self.cursor = cursor
        self.what = what
    }

    deinit { close() }

    private var context: String { "\(instance.descriptor.id): \(what)" }

    func next(maxItems: Int) async throws -> [ProviderItem]? {
        let n = max(1, maxItems)
        let (stop, aheadID, kept) = lock.withLock { () -> (Bool, Int?, [ProviderItem]) in
            if closed || ended { return (true, nil, []) }
            if leftover.isEmpty { return (false, ahead?.id, []) }
            let k = Array(leftover.prefix(n))
            leftover.removeFirst(k.count)
            return (false, nil, k)
        }
        if stop { return nil }
        if !kept.isEmpty { return kept }
        let batch: Batch
        if let aheadID { batch = try await awaitAhead(aheadID) } else { batch = try await pull(n) }
        guard var items = batch else {
            lock.withLock { ended = true }
            return nil
        }
        if items.count > n {  // a read-ahead for a bigger request
            lock.withLock { leftover = Array(items[n...]) }
            items = Array(items[..<n])
        }
        startAhead(n)
        return items
    }

    func close() {
        let (first, running) = lock.withLock { () -> (Bool, Int?) in
            defer { closed = true }
            return (!closed, ahead.flatMap { $0.result == nil ? $0.id : nil })
        }
        guard first else { return }
        let c = cursor
        let interpreter = instance.interpreter
        if let running { interpreter.cancel(running) }
        interpreter.submit {
            guard let host = interpreter.hostModule, let fn = PyObject_GetAttrString(host, "close_cursor") else { return }
            defer { nvisy_py_decref(fn) }
            if let r = try? Py.call(fn, [Py.retained(c.pointer)], context: "close") { nvisy_py_decref(r) }
        }
    }

    // MARK: Pulls

    private func pullArguments(_ n: Int) -> @Sendable (Int) throws -> [PyPtr?] {
        let c = cursor
        return { _ in [Py.retained(c.pointer), Py.int(n)] }
    }

    private var convert: @Sendable (PyPtr) throws -> Batch {
        let interpreter = instance.interpreter
        let context = self.context
        return { r in nvisy_py_is_none(r) != 0 ? nil : try PythonBatch(pulled: r, interpreter: interpreter, context: context).items }
    }

    private func pull(_ n: Int) async throws -> Batch {
        try await instance.interpreter.call("pull", context: context, timeout: instance.options.timeout,
                                            args: pullArguments(n), convert: convert)
    }

    private func startAhead(_ n: Int) {
        let interpreter = instance.interpreter
        let id = interpreter.newCallID()
        let start = lock.withLock {
            guard !closed, !ended, ahead == nil else { return false }
            ahead = Ahead(id: id)
            return true
        }
        guard start else { return }
        interpreter.start(id, "pull", context: context, timeout: instance.options.timeout, args: pullArguments(n), convert: convert) {
            [weak self] result in self?.aheadFinished(id, result)
        }
    }

    private func aheadFinished(_ id: Int, _ result: Result<Batch, any Error>) {
        let waiter = lock.withLock { () -> CheckedContinuation<Batch, any Error>? in
            guard var a = ahead, a.id == id else { return nil }
            if let w = a.waiter {
                ahead = nil
                return w
            }
            a.result = result
            ahead = a
            return nil
        }
        waiter?.resume(with: result)
    }

    private func awaitAhead(_ id: Int) async throws -> Batch {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Batch, any Error>) in
                let ready = lock.withLock { () -> Result<Batch, any Error>? in
                    guard var a = ahead, a.id == id else {
                        return .failure(NvisyError.internal("\(context): the read-ahead went missing"))
                    }
                    if let r = a.result {
                        ahead = nil
                        return r
                    }
                    a.waiter = cont
                    ahead = a
                    return nil
                }
                if let ready { cont.resume(with: ready) }
            }
        } onCancel: {
            instance.interpreter.cancel(id)
        }
    }
}
