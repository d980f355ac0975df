import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// The per-workspace activity log: who did what, newest first.
public struct ActivityRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Records one activity. `detailsJSON` must be a JSON object.
    public func record(workspaceID: UUID, actorID: UUID?, action: String, targetType: String? = nil, targetID: UUID? = nil,
                       detailsJSON: String = "{}") async throws(NvisyError) {
        do {
            try await client.query("""
                INSERT INTO workspace_activities (id, workspace_id, actor_id, action, target_type, target_id, details)
                VALUES (\(UUID.v7()), \(workspaceID), \(actorID), \(action), \(targetType), \(targetID), \(detailsJSON)::jsonb)
                """, logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "record activity") }
    }

    /// Activities of a workspace, newest first, older than `before`.
    public func list(workspaceID: UUID, before: UUID?, limit: Int) async throws(NvisyError) -> Page<ActivityRecord> {
        do {
            let rows = try await client.query("""
                SELECT id, workspace_id, actor_id, action, target_type, target_id, details::text, created_at
                FROM workspace_activities
                WHERE workspace_id = \(workspaceID) AND (\(before)::uuid IS NULL OR id < \(before))
                ORDER BY id DESC LIMIT \(limit + 1)
                """, logger: logger)
            var all: [ActivityRecord] = []
            for try await (id, ws, actor, action, type, target, details, created)
                in rows.decode((UUID, UUID, UUID?, String, String?, UUID?, String, Date).self) {
                all.append(ActivityRecord(id: id, workspaceID: ws, actorID: actor, action: action, targetType: type,
                                          targetID: target, detailsJSON: details, createdAt: created))
            }
            return Page(fetched: all, limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list activities") }
    }
}
