import AsyncAlgorithms
import Synchronization

/// A node's input: one back-pressured channel (swift-async-algorithms `AsyncChannel`: a
/// sender waits until the receiver takes its batch) shared by all the node's producers;
/// finished when the last producer is done.
final class Inbox: Sendable {
    let channel = AsyncChannel<[Flow]>()
    private let producers: Atomic<Int>

    init(producers: Int) { self.producers = Atomic(producers) }

    /// One producer is done; the last one finishes the channel.
    func producerDone() {
        if producers.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { channel.finish() }
    }
}
