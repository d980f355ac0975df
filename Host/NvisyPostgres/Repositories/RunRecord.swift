import Foundation
import NvisyCore

/// A row of `runs`: one execution of a pipeline's definition snapshot.
public struct RunRecord: Sendable, Equatable {
    /// Where a run is; `completed`, `failed` and `cancelled` are final.
    public enum Status: String, Sendable, CaseIterable {
        case queued, running, completed, failed, cancelled
        public var isFinal: Bool { self == .completed || self == .failed || self == .cancelled }
    }

    public var id: UUID
    public var workspaceID: UUID
    public var pipelineID: UUID?
    public var pipelineName: String
    public var definitionJSON: String
    public var status: Status
    /// manual / schedule / file.
    public var trigger: String
    public var triggerDetailJSON: String?
    public var cancelRequested: Bool
    /// How many times a worker started it (1 for a run that never crashed).
    public var attempts: Int
    public var workerID: String?
    public var leaseExpiresAt: Date?
    /// The last progress snapshot (the runtime's `RunProgress` as JSON).
    public var progressJSON: String?
    public var itemsRead: Int64
    public var itemsWritten: Int64
    public var itemsFailed: Int64
    public var error: String?
    /// transient / permanent, when `error` is set.
    public var errorRetry: String?
    public var createdBy: UUID?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var updatedAt: Date
}

/// A run to insert.
public struct NewRun: Sendable {
    public var id: UUID
    public var workspaceID: UUID
    public var pipelineID: UUID?
    public var pipelineName: String
    public var definitionJSON: String
    public var trigger: String
    public var triggerDetailJSON: String?
    public var createdBy: UUID?

    public init(id: UUID = .v7(), workspaceID: UUID, pipelineID: UUID?, pipelineName: String, definitionJSON: String,
                trigger: String = "manual", triggerDetailJSON: String? = nil, createdBy: UUID?) {
        self.id = id
        self.workspaceID = workspaceID
        self.pipelineID = pipelineID
        self.pipelineName = pipelineName
        self.definitionJSON = definitionJSON
        self.trigger = trigger
        self.triggerDetailJSON = triggerDetailJSON
        self.createdBy = createdBy
    }
}

/// What a worker reports while it runs a run.
public struct RunHeartbeat: Sendable {
    public var progressJSON: String
    public var read: Int64
    public var written: Int64
    public var failed: Int64

    public init(progressJSON: String, read: Int64, written: Int64, failed: Int64) {
        self.progressJSON = progressJSON
        self.read = read
        self.written = written
        self.failed = failed
    }
}
