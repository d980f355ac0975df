import NvisyCore

/// The bookkeeping shared by cursors that read one batch ahead (``NativeCursor`` in process,
/// ``IsolatedCursor`` in a plugin-host child): whether the cursor is closed or ended, the `next`
/// already under way, and the items of a batch larger than the caller asked for. Owners keep it
/// under their lock.
struct ReadAheadState<Call> {
    /// What `next` does with the state it found.
    enum Step {
        /// Closed or ended: answer nil.
        case stop
        /// Items left over from the batch before.
        case items([ProviderItem])
        /// Await this call, already started (nil: start one now).
        case fetch(Call?)
    }

    private(set) var closed = false
    private(set) var ended = false
    /// The `next` started ahead.
    var ahead: Call?
    /// Items of a batch read ahead beyond a smaller `maxItems` asked next.
    private var leftover: ArraySlice<ProviderItem> = []

    /// Takes what `next(maxItems: want)` should answer from: the ahead call is handed over (once).
    mutating func begin(want: Int) -> Step {
        if closed || ended { return .stop }
        if !leftover.isEmpty {
            let take = leftover.prefix(want)
            leftover = leftover.dropFirst(take.count)
            return .items(Array(take))
        }
        defer { ahead = nil }
        return .fetch(ahead)
    }

    /// Keeps the items beyond `want` for the next `next`.
    mutating func keepSurplus(of items: inout [ProviderItem], want: Int) {
        guard items.count > want else { return }
        leftover = items[want...]
        items.removeSubrange(want...)
    }

    /// The source has no more items.
    mutating func end() { ended = true }

    /// Closes; answers whether it was open and the call read ahead, if any (dropped from here).
    mutating func close() -> (wasOpen: Bool, ahead: Call?) {
        defer {
            closed = true
            ahead = nil
            leftover = []
        }
        return (!closed, ahead)
    }
}
