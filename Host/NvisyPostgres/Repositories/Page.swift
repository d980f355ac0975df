import Foundation

/// One page of a keyset-paginated list: the items and, when more follow, the id to continue after.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    /// The sort key of the last item, when another page exists.
    public var nextAfter: UUID?

    public init(items: [Item], nextAfter: UUID?) {
        self.items = items
        self.nextAfter = nextAfter
    }

    /// A page from `limit + 1` fetched rows: the extra row only says that more exist.
    public init(fetched: [Item], limit: Int, key: (Item) -> UUID) {
        if fetched.count > limit {
            items = Array(fetched.prefix(limit))
            nextAfter = items.last.map(key)
        } else {
            items = fetched
            nextAfter = nil
        }
    }
}
