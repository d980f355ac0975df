import Foundation
import NvisyCore

/// Where a run is.
public enum RunStatus: String, Sendable, Codable, Hashable, CaseIterable {
    case running, completed, failed, cancelled
    public var isFinal: Bool { self != .running }
}

/// Counters of one node.
public struct NodeProgress: Sendable, Codable, Hashable {
    public var nodeId: String
    public var kind: PipelineDefinition.Kind
    /// Items taken in (for a source: read from its provider).
    public var read: Int
    /// Items passed on (for a sink: durably written).
    public var written: Int
    /// Items that failed here (permanent, or transient after every retry).
    public var failed: Int
    /// Items written per second over the last progress interval.
    public var itemsPerSecond: Double
    /// For a source that can count ahead: the items it will read in this attempt.
    public var expected: Int?
}

/// A snapshot of a run, as the SSE endpoint and `GET /runs/{id}` show it.
public struct RunProgress: Sendable, Codable, Hashable {
    public var runId: UUID
    public var status: RunStatus
    public var nodes: [NodeProgress]
    /// Items written by all sinks per second over the last interval.
    public var itemsPerSecond: Double
    /// Items written by all sinks since the run (this attempt) started.
    public var written: Int
    /// Per-item errors recorded so far (this attempt).
    public var failed: Int
    /// Items between nodes right now, and the most there ever were (backpressure keeps it bounded).
    public var inFlight: Int
    public var maxInFlight: Int
    /// Per source node: the checkpoint (resume token as text) and items completed in this attempt.
    public var checkpoints: [SourceCheckpoint]
    public var startedAt: Date
    public var elapsedSeconds: Double
    /// Seconds left at the current rate, when every source can count ahead and items are moving.
    public var etaSeconds: Double?
    /// Why the run failed.
    public var error: String?
}

/// A source's checkpoint: every item up to and including `resumeToken` reached every sink it
/// was routed to (or was filtered out, or recorded as an error).
public struct SourceCheckpoint: Sendable, Codable, Hashable {
    public var nodeId: String
    /// The resume token the source restarts after; nil: from the beginning.
    public var resumeToken: Data?
    /// Items completed (this attempt).
    public var items: Int

    public init(nodeId: String, resumeToken: Data?, items: Int) {
        self.nodeId = nodeId
        self.resumeToken = resumeToken
        self.items = items
    }

    public var resumeTokenText: String? { resumeToken.map { String(decoding: $0, as: UTF8.self) } }
}

/// One item that failed for good: the run goes on (within its error budget).
public struct RunItemError: Sendable, Codable, Hashable {
    public var nodeId: String
    /// The failed item's own resume token (e.g. `people.csv#17`), as text.
    public var itemToken: String
    public var message: String
    public var retry: RetryClass
    public var at: Date

    public init(nodeId: String, itemToken: String, message: String, retry: RetryClass, at: Date = Date()) {
        self.nodeId = nodeId
        self.itemToken = itemToken
        self.message = message
        self.retry = retry
        self.at = at
    }
}

/// How a run ended.
public struct RunResult: Sendable, Equatable {
    public var status: RunStatus
    /// Why it failed (nil unless `failed`); its retry class says whether running it again may help.
    public var error: NvisyError?
    public var progress: RunProgress
}
