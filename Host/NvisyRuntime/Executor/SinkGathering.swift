import AsyncAlgorithms
import Foundation

/// A sink node gathering batches into bigger writes (``RunOptions/sinkBatchSize``).
///
/// A database sink commits once per write, and a commit waits for the WAL to reach the disk:
/// with batches of a few thousand items that fsync, not the rows, bounds the throughput. The
/// sink therefore holds the batches it receives until it has `sinkBatchSize` items, the
/// oldest has waited ``RunOptions/sinkFlushInterval``, or its inbox ends, then writes them
/// in one call — while it gathers the next. Held items are not acknowledged (the write
/// releases their lineage), so the checkpoint never passes an item that is not written, and
/// a cancel or crash while holding simply leaves them to the resumed run.
extension NodeRunner {
    func runGatheringSink(limit: Int) async throws {
        guard let inbox else { return }
        // One write at a time, in order, but concurrent with gathering the next: the database
        // works on one write while the nodes before the sink make the next (double buffering).
        try await withThrowingTaskGroup(of: Void.self) { writes in
            var held: [Flow] = []
            var writing = false
            var since = ContinuousClock.now
            func flush() async throws {
                guard !held.isEmpty else { return }
                let batch = held
                held = []
                if writing { try await writes.next() }
                // Held items count as in flight until written (the executor's memory bound).
                state.received(batch.count)
                writes.addTask { try await self.write(batch[...]) }
                writing = true
            }
            while true {
                let next: [Flow]?
                switch await Self.next(from: inbox.channel, holding: !held.isEmpty,
                                       within: options.sinkFlushInterval - (ContinuousClock.now - since)) {
                case .batch(let b): next = b
                case .timedOut:
                    try Task.checkCancellation()
                    try await flush()
                    continue
                case .finished: next = nil
                }
                try Task.checkCancellation()
                guard let batch = next else { break }
                counters.read.add(batch.count, ordering: .relaxed)
                if held.isEmpty { since = ContinuousClock.now }
                held.append(contentsOf: batch)
                if held.count >= limit { try await flush() }
            }
            try await flush()
            try await writes.waitForAll()
        }
        try Task.checkCancellation()
    }

    enum Received {
        case batch([Flow])
        case timedOut
        case finished
    }

    /// The channel's next batch. A node that holds nothing waits as long as it takes; one that
    /// holds items waits at most `window` (none left: `.timedOut` at once), then acts on them.
    static func next(from channel: AsyncChannel<[Flow]>, holding: Bool, within window: Duration) async -> Received {
        if !holding {
            var iterator = channel.makeAsyncIterator()
            return await iterator.next().map { .batch($0) } ?? .finished
        }
        return window > .zero ? await receive(from: channel, within: window) : .timedOut
    }

    /// The channel's next batch, or `.timedOut` when none came within `timeout`.
    ///
    /// The receive runs in a child task that is cancelled at the deadline; `AsyncChannel`
    /// answers a cancelled receive with nil and keeps the channel open, and a batch handed
    /// over in the same instant is still returned here, never lost.
    static func receive(from channel: AsyncChannel<[Flow]>, within timeout: Duration) async -> Received {
        enum Child: Sendable {
            case received([Flow]?)
            case timer
            case timerCancelled
        }
        return await withTaskGroup(of: Child.self) { group in
            group.addTask {
                var iterator = channel.makeAsyncIterator()
                return .received(await iterator.next())
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timer
                } catch {
                    return .timerCancelled
                }
            }
            var timerFired = false
            var received: [Flow]?
            // Both children always end: the first to answer cancels the other.
            while let child = await group.next() {
                switch child {
                case .timer: timerFired = true
                case .timerCancelled: break
                case .received(let b): received = b
                }
                group.cancelAll()
            }
            if let received { return .batch(received) }
            return timerFired ? .timedOut : .finished
        }
    }
}
