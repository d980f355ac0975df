import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// An event that integrators can subscribe to with a webhook (`pipeline.run.completed`,
/// `file.uploaded`, `member.joined`, ...). `dataJSON` is a JSON object with the resource ids.
public struct OutboxEvent: Sendable, Equatable {
    public var id: UUID
    public var workspaceID: UUID
    public var type: String
    public var dataJSON: String
    public var createdAt: Date

    /// A new event (id: a fresh UUIDv7, the `webhook-id` receivers deduplicate on).
    public init(workspaceID: UUID, type: String, dataJSON: String, id: UUID = .v7(), createdAt: Date = Date()) {
        self.id = id
        self.workspaceID = workspaceID
        self.type = type
        self.dataJSON = dataJSON
        self.createdAt = createdAt
    }

    /// A new event whose data is `data`, encoded as JSON.
    public init<D: Encodable>(workspaceID: UUID, type: String, data: D, id: UUID = .v7()) throws(NvisyError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let json: String
        do { json = String(decoding: try encoder.encode(data), as: UTF8.self) } catch {
            throw NvisyError.internal("cannot encode the data of event \(type): \(error)")
        }
        self.init(workspaceID: workspaceID, type: type, dataJSON: json, id: id)
    }
}

/// The transactional outbox (table `events`): write an event in the same transaction as the
/// change that caused it, and the webhook dispatcher delivers it after the commit — even if
/// this host dies right after committing.
///
/// ```swift
/// try await client.withTransaction(logger: logger) { connection in
///     try await connection.query("UPDATE pipeline_runs SET status = 'completed' ...", logger: logger)
///     try await Outbox.record(OutboxEvent(workspaceID: ws, type: "pipeline.run.completed",
///                                         dataJSON: #"{"runId":"…","pipelineId":"…"}"#), on: connection, logger: logger)
/// }
/// ```
public enum Outbox {
    /// Inserts `event` on `connection` (inside the caller's transaction).
    public static func record(_ event: OutboxEvent, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO events (id, workspace_id, type, payload, created_at)
            VALUES (\(event.id), \(event.workspaceID), \(event.type), \(event.dataJSON)::jsonb, \(event.createdAt))
            """, logger: logger).drain()
    }

    /// Inserts `event` on its own (no surrounding change to keep atomic with).
    public static func record(_ event: OutboxEvent, client: PostgresClient, logger: Logger) async throws(NvisyError) {
        do {
            try await client.withConnection { connection in try await record(event, on: connection, logger: logger) }
        } catch { throw PostgresErrors.wrap(error, "record event \(event.type)") }
    }

    /// Up to `limit` events not handed to the dispatcher yet, oldest first; rows are locked
    /// (`SKIP LOCKED`) so two hosts' dispatchers take different ones. Call inside a transaction
    /// and ``markDispatched(_:on:logger:)`` before committing.
    public static func claimUndispatched(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [OutboxEvent] {
        let rows = try await connection.query("""
            SELECT id, workspace_id, type, payload::text, created_at FROM events
            WHERE dispatched_at IS NULL ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
            """, logger: logger)
        var events: [OutboxEvent] = []
        for try await (id, ws, type, payload, created) in rows.decode((UUID, UUID, String, String, Date).self) {
            events.append(OutboxEvent(workspaceID: ws, type: type, dataJSON: payload, id: id, createdAt: created))
        }
        return events
    }

    /// Marks events as handed to the dispatcher.
    public static func markDispatched(_ ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws {
        guard !ids.isEmpty else { return }
        try await connection.query("UPDATE events SET dispatched_at = now() WHERE id = ANY(\(ids))", logger: logger).drain()
    }
}
