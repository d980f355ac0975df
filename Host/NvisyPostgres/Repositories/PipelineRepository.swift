import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// A row of `pipelines`: a definition (JSON text, checked by the runtime's compiler), a status,
/// and what triggers it besides a user.
public struct PipelineRecord: Sendable, Equatable {
    public var id: UUID
    public var workspaceID: UUID
    public var name: String
    public var description: String?
    /// draft / enabled / disabled.
    public var status: String
    public var definitionJSON: String
    public var triggersJSON: String
    public var nextRunAt: Date?
    public var createdBy: UUID?
    public var createdAt: Date
    public var updatedAt: Date
}

/// The pipelines of a workspace.
public struct PipelineRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let columns = "id, workspace_id, name, description, status, definition::text, triggers::text, next_run_at, created_by, created_at, updated_at"

    public func create(workspaceID: UUID, name: String, description: String?, status: String, definitionJSON: String,
                       triggersJSON: String, nextRunAt: Date?, createdBy: UUID?) async throws(NvisyError) -> PipelineRecord {
        do {
            let rows = try await client.query("""
                INSERT INTO pipelines (id, workspace_id, name, description, status, definition, triggers, next_run_at, created_by)
                VALUES (\(UUID.v7()), \(workspaceID), \(name), \(description), \(status), \(definitionJSON)::jsonb,
                        \(triggersJSON)::jsonb, \(nextRunAt), \(createdBy))
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first!
        } catch {
            throw Self.wrap(error, name: name, "create pipeline")
        }
    }

    public func find(id: UUID) async throws(NvisyError) -> PipelineRecord? {
        do {
            let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM pipelines WHERE id = \(id)", logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "find pipeline") }
    }

    /// The pipelines of a workspace, ordered by id; `status` filters.
    public func list(workspaceID: UUID, status: String?, after: UUID?, limit: Int) async throws(NvisyError) -> Page<PipelineRecord> {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM pipelines
                WHERE workspace_id = \(workspaceID) AND (\(status)::text IS NULL OR status = \(status))
                  AND (\(after)::uuid IS NULL OR id > \(after))
                ORDER BY id LIMIT \(limit + 1)
                """, logger: logger)
            return Page(fetched: try await Self.records(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list pipelines") }
    }

    /// Changes what is given (nil leaves a field); `clearDescription` sets it to null.
    /// `nextRunAt` is always written (the caller recomputes it from the triggers and status).
    public func update(id: UUID, name: String?, description: String?, status: String?, definitionJSON: String?,
                       triggersJSON: String?, nextRunAt: Date?) async throws(NvisyError) -> PipelineRecord? {
        do {
            let rows = try await client.query("""
                UPDATE pipelines SET name = COALESCE(\(name), name), description = COALESCE(\(description), description),
                    status = COALESCE(\(status), status), definition = COALESCE(\(definitionJSON)::jsonb, definition),
                    triggers = COALESCE(\(triggersJSON)::jsonb, triggers), next_run_at = \(nextRunAt), updated_at = now()
                WHERE id = \(id) RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first
        } catch {
            throw Self.wrap(error, name: name ?? "", "update pipeline")
        }
    }

    public func delete(id: UUID) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("DELETE FROM pipelines WHERE id = \(id) RETURNING id", logger: logger)
            for try await _ in rows.decode(UUID.self) { return true }
            return false
        } catch { throw PostgresErrors.wrap(error, "delete pipeline") }
    }

    /// Enabled pipelines whose schedule is due, each moved on to `next(record)` in the same
    /// statement-level lock (`FOR UPDATE SKIP LOCKED`), so that of several hosts exactly one
    /// fires a given tick. `fire` runs inside the transaction (it creates the run).
    public func claimDue(now: Date, limit: Int, next: @Sendable (PipelineRecord) -> Date?,
                         fire: @Sendable (PipelineRecord, PostgresConnection) async throws -> Void) async throws(NvisyError) -> Int {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    SELECT \(unescaped: Self.columns) FROM pipelines
                    WHERE status = 'enabled' AND next_run_at IS NOT NULL AND next_run_at <= \(now)
                    ORDER BY next_run_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    """, logger: logger)
                let due = try await Self.records(rows)
                for pipeline in due {
                    try await connection.query("UPDATE pipelines SET next_run_at = \(next(pipeline)) WHERE id = \(pipeline.id)",
                                               logger: logger).drain()
                    try await fire(pipeline, connection)
                }
                return due.count
            }
        } catch { throw PostgresErrors.wrap(error, "fire scheduled pipelines") }
    }

    /// Enabled pipelines of a workspace that run on every uploaded file.
    public func onFileUpload(workspaceID: UUID) async throws(NvisyError) -> [PipelineRecord] {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM pipelines
                WHERE workspace_id = \(workspaceID) AND status = 'enabled' AND (triggers->>'onFileUpload')::boolean IS TRUE
                ORDER BY id
                """, logger: logger)
            return try await Self.records(rows)
        } catch { throw PostgresErrors.wrap(error, "list file-triggered pipelines") }
    }

    static func wrap(_ error: any Error, name: String, _ what: String) -> NvisyError {
        if PostgresErrors.isUniqueViolation(error) {
            var e = NvisyError.conflict("a pipeline named \"\(name)\" already exists in this workspace; pick another name")
            e.fieldErrors = [.init(pointer: "/name", message: e.message)]
            return e
        }
        return PostgresErrors.wrap(error, what)
    }

    static func records(_ rows: PostgresRowSequence) async throws -> [PipelineRecord] {
        var out: [PipelineRecord] = []
        for try await (id, workspace, name, description, status, definition, triggers, next, createdBy, created, updated) in rows.decode(
            (UUID, UUID, String, String?, String, String, String, Date?, UUID?, Date, Date).self) {
            out.append(PipelineRecord(id: id, workspaceID: workspace, name: name, description: description, status: status,
                                      definitionJSON: definition, triggersJSON: triggers, nextRunAt: next, createdBy: createdBy,
                                      createdAt: created, updatedAt: updated))
        }
        return out
    }
}
