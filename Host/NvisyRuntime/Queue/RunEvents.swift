import Foundation
import NvisyCore
import NvisyPostgres

/// The `pipeline.run.*` events of a run (recorded in the outbox in the transaction that changes
/// the run): `pipeline.run.status_changed` when it starts or is cancelled, and
/// `pipeline.run.completed` / `pipeline.run.failed` when it ends.
public enum RunEvents {
    struct Data: Encodable {
        var runId: String
        var pipelineId: String?
        var pipelineName: String
        var status: String
        var trigger: String
        var attempt: Int
        var itemsRead: Int64
        var itemsWritten: Int64
        var itemsFailed: Int64
        var error: String?
    }

    /// The event for `run`'s status (as written).
    public static func event(for run: RunRecord) throws(NvisyError) -> OutboxEvent {
        let type: String
        switch run.status {
        case .completed: type = "pipeline.run.completed"
        case .failed: type = "pipeline.run.failed"
        default: type = "pipeline.run.status_changed"
        }
        let data = Data(runId: run.id.uuidString.lowercased(), pipelineId: run.pipelineID?.uuidString.lowercased(),
                        pipelineName: run.pipelineName, status: run.status.rawValue, trigger: run.trigger, attempt: run.attempts,
                        itemsRead: run.itemsRead, itemsWritten: run.itemsWritten, itemsFailed: run.itemsFailed, error: run.error)
        return try OutboxEvent(workspaceID: run.workspaceID, type: type, data: data)
    }
}
