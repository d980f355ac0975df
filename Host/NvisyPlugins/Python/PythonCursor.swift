import CPython
import Foundation
import NvisyCore

/// A `_host.Cursor` over what a Python source's `read` or a transform returned, pulled up to
/// two batches ahead.
///
/// When ``next(maxItems:)`` hands out a batch it makes sure one pull is running or done ahead
/// of it, so the Python thread pulls while the consumer uses the batch. The usual consumer
/// writes the batch to a Python sink; that write then starts a *second* pull behind it
/// (``PythonBatch/handedOn()``, the hook set here). The Python thread runs jobs in the order
/// they come, so it runs: write k, pull k+2 — and while it pulls, the consumer wakes up for the
/// write's end, takes batch k+1 (pulled before write k) and queues write k+1 and pull k+3. The
/// Python thread never waits for the consumer to wake (a thread wake-up is ≈ 10–20 µs, a
/// batch of small records ≈ 200 µs of Python). Started before the write instead, the pull
/// would run first and the write the consumer waits for would always come last.
///
/// Pulls of one cursor run one at a time, in order (`_host.Cursor.pull` takes a lock). The
/// provider runs at most two batches ahead of the consumer. A read-ahead's error is thrown by
/// the `next` that would have taken its batch; closing the cursor cancels the read-aheads still
/// running.
final class PythonCursor: BatchCursor, @unchecked Sendable {
    typealias Batch = PythonBatch?

    /// Pulls kept ahead of the consumer: one when a batch is handed out, two once the
    /// consumer has handed it on to a Python provider.
    static let depth = 2

    let instance: PythonProviderInstance
    let cursor: PyRef
    let what: String
    private let lock = NSLock()
    // Guarded by `lock` (hence `@unchecked Sendable`):
    private var closed = false
    private var ended = false
    /// The pulls started ahead, oldest first: call id, then result, or the consumer awaiting it.
    private var aheads: [Ahead] = []
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
            if leftover.isEmpty { return (false, aheads.first?.id, []) }
            let k = Array(leftover.prefix(n))
            leftover.removeFirst(k.count)
            return (false, nil, k)
        }
        if stop { return nil }
        if !kept.isEmpty { return kept }
        let batch: Batch
        do {
            if let aheadID { batch = try await awaitAhead(aheadID) } else { batch = try await pull(n) }
        } catch {
            stopAheads()  // pulled after the failure: never handed out
            throw error
        }
        guard let batch else {
            lock.withLock { ended = true }
            stopAheads()
            return nil
        }
        var items = batch.items
        if items.count > n {  // a read-ahead for a bigger request
            lock.withLock { leftover = Array(items[n...]) }
            items = Array(items[..<n])
        }
        fillAhead(n, upTo: 1)
        batch.onHandOn { [weak self] in self?.fillAhead(n, upTo: PythonCursor.depth) }
        return items
    }

    func close() {
        let (first, running) = lock.withLock { () -> (Bool, [Int]) in
            defer { closed = true }
            return (!closed, aheads.filter { $0.result == nil }.map(\.id))
        }
        guard first else { return }
        let c = cursor
        let interpreter = instance.interpreter
        for id in running { interpreter.cancel(id) }
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
        return { r in nvisy_py_is_none(r) != 0 ? nil : try PythonBatch(pulled: r, interpreter: interpreter, context: context) }
    }

    private func pull(_ n: Int) async throws -> Batch {
        try await instance.interpreter.call("pull", context: context, timeout: instance.options.timeout,
                                            args: pullArguments(n), convert: convert)
    }

    /// Starts pulls until `count` are ahead of the consumer (none after the end or a close).
    private func fillAhead(_ n: Int, upTo count: Int) {
        let interpreter = instance.interpreter
        while true {
            let id = interpreter.newCallID()
            let start = lock.withLock {
                guard !closed, !ended, aheads.count < count else { return false }
                aheads.append(Ahead(id: id))
                return true
            }
            guard start else { return }
            interpreter.start(id, "pull", context: context, timeout: instance.options.timeout, args: pullArguments(n), convert: convert) {
                [weak self] result in self?.aheadFinished(id, result)
            }
        }
    }

    /// Drops the pulls ahead (after the end or an error: their batches are never handed out).
    private func stopAheads() {
        let running = lock.withLock { () -> [Int] in
            defer { aheads.removeAll() }
            return aheads.filter { $0.result == nil }.map(\.id)
        }
        for id in running { instance.interpreter.cancel(id) }
    }

    private func aheadFinished(_ id: Int, _ result: Result<Batch, any Error>) {
        let waiter = lock.withLock { () -> CheckedContinuation<Batch, any Error>? in
            guard let k = aheads.firstIndex(where: { $0.id == id }) else { return nil }
            if let w = aheads[k].waiter {
                aheads.remove(at: k)
                return w
            }
            aheads[k].result = result
            return nil
        }
        waiter?.resume(with: result)
    }

    private func awaitAhead(_ id: Int) async throws -> Batch {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Batch, any Error>) in
                let ready = lock.withLock { () -> Result<Batch, any Error>? in
                    guard let k = aheads.firstIndex(where: { $0.id == id }) else {
                        return .failure(NvisyError.internal("\(context): the read-ahead went missing"))
                    }
                    if let r = aheads[k].result {
                        aheads.remove(at: k)
                        return r
                    }
                    aheads[k].waiter = cont
                    return nil
                }
                if let ready { cont.resume(with: ready) }
            }
        } onCancel: {
            instance.interpreter.cancel(id)
        }
    }
}
