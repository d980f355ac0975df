import Foundation

/// A built-in node that gathers its input into the batches its transform prefers
/// (``BuiltinTransform/preferredBatchSize``).
///
/// Upstream often sends less than a model's batch at a time: `documents/partition` runs one
/// document per call, so `chunk` passes on one document's chunks (a few dozen), and `embed`
/// would call the model once per document with a third of its batch, which costs the model
/// more per text. The node applies the transform to exactly `size` items whenever it holds
/// that many, carrying the rest over; what it holds goes out once its inbox has given nothing
/// for ``gatherWindow`` or has ended. Held items are not acknowledged, so checkpoints never pass
/// them.
extension NodeRunner {
    /// How long a partial batch waits for more input: long enough for the next document to be
    /// partitioned and chunked, short beside a model call on a slow upstream.
    static let gatherWindow = Duration.milliseconds(10)

    func runGatheringBuiltin(_ t: any BuiltinTransform, size: Int) async throws {
        guard let inbox else { return }
        var held: [Flow] = []
        func apply(_ count: Int) async throws {
            let batch = Array(held.prefix(count))
            held.removeFirst(count)
            state.received(batch.count)  // in flight until applied, as in a gathering sink
            try await builtin(t, batch)
        }
        while true {
            let next: [Flow]?
            switch await Self.next(from: inbox.channel, holding: !held.isEmpty, within: Self.gatherWindow) {
            case .batch(let b): next = b
            case .timedOut:
                try Task.checkCancellation()
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
        try Task.checkCancellation()
    }
}
