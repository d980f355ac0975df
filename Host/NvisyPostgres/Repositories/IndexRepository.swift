import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// A workspace's indexing settings (`workspace_index_settings`; defaults without a row).
public struct IndexSettingsRecord: Sendable, Equatable {
    /// The embedding connection that indexes and searches the workspace; nil: the default.
    public var embeddingConnectionID: UUID?
    /// Whether an upload starts indexing the new file.
    public var indexOnUpload: Bool

    public init(embeddingConnectionID: UUID? = nil, indexOnUpload: Bool = false) {
        self.embeddingConnectionID = embeddingConnectionID
        self.indexOnUpload = indexOnUpload
    }
}

/// The latest request to index one file (`file_index_requests`).
public struct IndexRequestRecord: Sendable, Equatable {
    public var fileID: UUID
    public var workspaceID: UUID
    public var fileVersion: Int
    public var modelName: String
    public var connectionID: UUID?
    public var runID: UUID
    public var requestedAt: Date

    public init(fileID: UUID, workspaceID: UUID, fileVersion: Int, modelName: String, connectionID: UUID?, runID: UUID, requestedAt: Date) {
        self.fileID = fileID
        self.workspaceID = workspaceID
        self.fileVersion = fileVersion
        self.modelName = modelName
        self.connectionID = connectionID
        self.runID = runID
        self.requestedAt = requestedAt
    }
}

/// Indexing settings per workspace and index requests per file.
public struct IndexRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func settings(workspaceID: UUID) async throws(NvisyError) -> IndexSettingsRecord {
        do {
            let rows = try await client.query("""
                SELECT embedding_connection_id, index_on_upload FROM workspace_index_settings WHERE workspace_id = \(workspaceID)
                """, logger: logger)
            for try await (connection, onUpload) in rows.decode((UUID?, Bool).self) {
                return IndexSettingsRecord(embeddingConnectionID: connection, indexOnUpload: onUpload)
            }
            return IndexSettingsRecord()
        } catch { throw PostgresErrors.wrap(error, "read index settings") }
    }

    public func setSettings(workspaceID: UUID, _ settings: IndexSettingsRecord) async throws(NvisyError) {
        do {
            _ = try await client.query("""
                INSERT INTO workspace_index_settings (workspace_id, embedding_connection_id, index_on_upload, updated_at)
                VALUES (\(workspaceID), \(settings.embeddingConnectionID), \(settings.indexOnUpload), now())
                ON CONFLICT (workspace_id) DO UPDATE SET embedding_connection_id = EXCLUDED.embedding_connection_id,
                    index_on_upload = EXCLUDED.index_on_upload, updated_at = now()
                """, logger: logger).collect()
        } catch { throw PostgresErrors.wrap(error, "save index settings") }
    }

    /// Records `request` as the file's latest (replacing an earlier one).
    public func record(_ request: IndexRequestRecord) async throws(NvisyError) {
        do {
            _ = try await client.query("""
                INSERT INTO file_index_requests (file_id, workspace_id, file_version, model_name, connection_id, run_id, requested_at)
                VALUES (\(request.fileID), \(request.workspaceID), \(Int32(request.fileVersion)), \(request.modelName),
                        \(request.connectionID), \(request.runID), now())
                ON CONFLICT (file_id) DO UPDATE SET file_version = EXCLUDED.file_version, model_name = EXCLUDED.model_name,
                    connection_id = EXCLUDED.connection_id, run_id = EXCLUDED.run_id, requested_at = now()
                """, logger: logger).collect()
        } catch { throw PostgresErrors.wrap(error, "record index request") }
    }

    public func request(fileID: UUID) async throws(NvisyError) -> IndexRequestRecord? {
        do {
            let rows = try await client.query("""
                SELECT file_id, workspace_id, file_version, model_name, connection_id, run_id, requested_at
                FROM file_index_requests WHERE file_id = \(fileID)
                """, logger: logger)
            for try await (f, w, v, m, c, r, at) in rows.decode((UUID, UUID, Int32, String, UUID?, UUID, Date).self) {
                return IndexRequestRecord(fileID: f, workspaceID: w, fileVersion: Int(v), modelName: m, connectionID: c, runID: r, requestedAt: at)
            }
            return nil
        } catch { throw PostgresErrors.wrap(error, "read index request") }
    }
}
