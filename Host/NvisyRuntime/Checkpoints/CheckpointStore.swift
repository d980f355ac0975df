import Foundation

/// Where a run's checkpoints and per-item errors live, so that a run resumes after a crash.
/// ``PostgresCheckpointStore`` is the real one; ``InMemoryCheckpointStore`` serves tools.
public protocol CheckpointStore: Sendable {
    /// The saved checkpoints of `run`, by source node id (empty for a new run).
    func checkpoints(run: UUID) async throws -> [String: Data]
    /// Saves `checkpoints` (replacing earlier ones of the same sources).
    func save(run: UUID, checkpoints: [SourceCheckpoint]) async throws
    /// Appends per-item errors.
    func record(run: UUID, errors: [RunItemError]) async throws
    /// The errors of `run` in the order recorded, `limit` at most, after position `after` (a
    /// value from ``RunItemErrorPage/next``), for `GET /runs/{id}/errors`.
    func errors(run: UUID, limit: Int, after: Int64?) async throws -> RunItemErrorPage
}

public struct RunItemErrorPage: Sendable, Hashable {
    public var items: [RunItemError]
    /// Pass as `after` for the next page; nil at the end.
    public var next: Int64?
    public init(items: [RunItemError], next: Int64?) {
        self.items = items
        self.next = next
    }
}

/// Checkpoints in memory (lost with the process): for tools and benchmarks.
public actor InMemoryCheckpointStore: CheckpointStore {
    private var saved: [UUID: [String: Data]] = [:]
    private var errorLists: [UUID: [RunItemError]] = [:]

    public init() {}

    public func checkpoints(run: UUID) -> [String: Data] { saved[run] ?? [:] }

    public func save(run: UUID, checkpoints: [SourceCheckpoint]) {
        for c in checkpoints { if let t = c.resumeToken { saved[run, default: [:]][c.nodeId] = t } }
    }

    public func record(run: UUID, errors: [RunItemError]) { errorLists[run, default: []] += errors }

    public func errors(run: UUID, limit: Int, after: Int64?) -> RunItemErrorPage {
        let all = errorLists[run] ?? []
        let start = Int(after ?? 0)
        let page = Array(all.dropFirst(start).prefix(limit))
        return RunItemErrorPage(items: page, next: start + page.count < all.count ? Int64(start + page.count) : nil)
    }
}
