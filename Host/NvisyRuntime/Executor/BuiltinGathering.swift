import Foundation

/// A built-in node that gathers its input into the batches its transform prefers
/// (``BuiltinTransform/preferredBatchSize``).
///
/// Upstream often sends less than a model's batch at a time: `documents/partition` runs one
/// document per call, so `chunk` passes on one document's chunks (a few dozen), and `embed`
/// would call the model once per document with a third of its batch, which costs the model
/// more per text. The node applies the transform to exactly `size` items whenever it holds
/// that many, carrying the rest over; what it holds goes out once its inbox has given nothing
/// for ``RunOptions/gatherWindow`` or has ended. Held items are not acknowledged, so
/// checkpoints never pass them.
extension NodeRunner {
    func runGatheringBuiltin(_ t: any BuiltinTransform, size: Int) async throws {
        guard let inbox else { return }
        // One call at a time, but the node keeps receiving while a call runs, so the next batch
        // is gathered by the time the model answers: without that the nodes before this one
        // would stand still during every call (the channel hands over a batch only to a
        // receiver), and the model would wait for them between calls. The next call starts as
        // soon as the model has answered, while the previous batch's outputs are still being
        // made and passed on (at most two batches in flight; outputs leave in order).
        try await withThrowingTaskGroup(of: Void.self) { calls in
            var held: [Flow] = []
            var inFlight = 0
            /// The latest batch's turn, if any.
            var last: BatchTurn?
            func apply(_ count: Int) async throws {
                let batch = Array(held.prefix(count))
                held.removeFirst(count)
                await last?.called.wait()
                if inFlight == 2 {
                    try await calls.next()  // the batch before `last`: outputs leave in order
                    inFlight -= 1
                }
                state.received(batch.count)  // in flight until applied, as in a gathering sink
                let turn = BatchTurn(after: last)
                calls.addTask {
                    defer { turn.end() }
                    try await self.builtin(t, batch, turn: turn)
                }
                inFlight += 1
                last = turn
            }
            while true {
                let next: [Flow]?
                switch await Self.next(from: inbox.channel, holding: !held.isEmpty, within: options.gatherWindow) {
                case .batch(let b): next = b
                case .timedOut:
                    try Task.checkCancellation()
                    // Upstream is quiet: a partial batch goes out, but not while the model is
                    // busy, which the partial would only queue behind: the node goes on
                    // receiving (a slow upstream still fills the next batch meanwhile) and looks
                    // again after the next window.
                    if let last, !last.called.isFired { continue }
                    try await apply(held.count)
                    continue
                case .finished: next = nil
                }
                try Task.checkCancellation()
                guard let batch = next else { break }
                counters.read.add(batch.count, ordering: .relaxed)
                held.append(contentsOf: batch)
                while held.count >= size { try await apply(size) }
            }
            if !held.isEmpty { try await apply(held.count) }
            try await calls.waitForAll()
        }
        try Task.checkCancellation()
    }
}

/// One batch of a gathering node: when its call is done (the next batch's call may start), and
/// when it has ended (the next batch's outputs may leave).
final class BatchTurn: Sendable {
    let called = OneShotSignal()
    let ended = OneShotSignal()
    /// The batch before this one, whose outputs leave first.
    let previous: OneShotSignal?

    init(after previous: BatchTurn?) {
        self.previous = previous?.ended
    }

    /// Every way out of the batch's task: nothing waits forever on a batch that failed.
    func end() {
        called.fire()
        ended.fire()
    }
}
