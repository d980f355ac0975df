import Foundation

/// An `AsyncSequence` of item batches from a source or transform cursor; the
/// cursor opens on the first `next()` and closes at the end or when iteration stops.
public struct ItemBatches: AsyncSequence, Sendable {
    public typealias Element = [ProviderItem]

    let batchSize: Int
    let open: @Sendable () async throws -> any BatchCursor

    public init(batchSize: Int, open: @escaping @Sendable () async throws -> any BatchCursor) {
        self.batchSize = Swift.max(1, batchSize)
        self.open = open
    }

    public func makeAsyncIterator() -> Iterator { Iterator(state: State(open: open), batchSize: batchSize) }

    /// The same items, one at a time.
    public var items: Items { Items(batches: self) }

    final class State: @unchecked Sendable {
        let open: @Sendable () async throws -> any BatchCursor
        var cursor: (any BatchCursor)?
        var done = false
        init(open: @escaping @Sendable () async throws -> any BatchCursor) { self.open = open }
        deinit { cursor?.close() }
    }

    public struct Iterator: AsyncIteratorProtocol {
        let state: State
        let batchSize: Int

        public mutating func next() async throws -> [ProviderItem]? {
            if state.done { return nil }
            do {
                let cursor: any BatchCursor
                if let c = state.cursor { cursor = c } else {
                    cursor = try await state.open()
                    state.cursor = cursor
                }
                if let batch = try await cursor.next(maxItems: batchSize), !batch.isEmpty { return batch }
            } catch {
                finish()
                throw error
            }
            finish()
            return nil
        }

        private func finish() {
            state.done = true
            state.cursor?.close()
            state.cursor = nil
        }
    }

    /// Items one at a time (batches still cross the provider boundary).
    public struct Items: AsyncSequence, Sendable {
        public typealias Element = ProviderItem
        let batches: ItemBatches

        public func makeAsyncIterator() -> Iterator { Iterator(inner: batches.makeAsyncIterator()) }

        public struct Iterator: AsyncIteratorProtocol {
            var inner: ItemBatches.Iterator
            var buffer: [ProviderItem] = []
            var index = 0

            public mutating func next() async throws -> ProviderItem? {
                if index < buffer.count {
                    defer { index += 1 }
                    return buffer[index]
                }
                guard let batch = try await inner.next() else { return nil }
                buffer = batch
                index = 1
                return batch[0]
            }
        }
    }
}
