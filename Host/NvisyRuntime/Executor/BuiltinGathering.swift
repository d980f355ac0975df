import Foundation
import Synchronization

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
        // One call at a time, in order, but the node keeps receiving while a call runs, so the
        // next batch is gathered by the time the model answers: without that the nodes before
        // this one would stand still during every call (the channel hands over a batch only to
        // a receiver), and the model would wait for them between calls.
        try await withThrowingTaskGroup(of: Void.self) { calls in
            var held: [Flow] = []
            /// The call in flight, if any: set once it has returned.
            var call: CallFinished?
            func apply(_ count: Int) async throws {
                let batch = Array(held.prefix(count))
                held.removeFirst(count)
                if call != nil { try await calls.next() }
                state.received(batch.count)  // in flight until applied, as in a gathering sink
                let finished = CallFinished()
                calls.addTask {
                    defer { finished.set() }
                    try await self.builtin(t, batch)
                }
                call = finished
            }
            while true {
                let next: [Flow]?
                switch await Self.next(from: inbox.channel, holding: !held.isEmpty, within: options.gatherWindow) {
                case .batch(let b): next = b
                case .timedOut:
                    try Task.checkCancellation()
                    // Upstream is quiet: a partial batch goes out, but not while a call runs,
                    // which the partial would only queue behind: the node goes on receiving
                    // (a slow upstream still fills the next batch meanwhile) and looks again
                    // after the next window.
                    if let running = call {
                        guard running.isSet else { continue }
                        try await calls.next()
                        call = nil
                    }
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

/// Set when a gathering node's call has returned, so the node can tell, without waiting, whether
/// a partial batch may go out.
final class CallFinished: Sendable {
    private let finished = Atomic<Bool>(false)
    var isSet: Bool { finished.load(ordering: .acquiring) }
    func set() { finished.store(true, ordering: .releasing) }
}
