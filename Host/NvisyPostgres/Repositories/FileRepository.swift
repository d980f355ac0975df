import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// A row of `files`: the metadata of one version of an uploaded file.
public struct FileRecord: Sendable, Equatable {
    public var id: UUID
    public var workspaceID: UUID
    public var name: String
    /// The object's name in the files bucket (`f/<random>`; it names no workspace).
    public var objectKey: String
    public var status: String
    public var declaredType: String?
    public var sniffedType: String?
    public var contentType: String
    public var size: Int64
    /// Lowercase hex SHA-256 of the content.
    public var sha256: String?
    public var tags: [String]
    public var version: Int
    public var previousID: UUID?
    public var createdBy: UUID?
    public var createdAt: Date
    public var updatedAt: Date
}

/// Filters of a file list.
public struct FileFilter: Sendable {
    public var name: String?
    /// A MIME type (`text/csv`) or a family (`text/` or `text/*`).
    public var type: String?
    public var tag: String?

    public init(name: String? = nil, type: String? = nil, tag: String? = nil) {
        self.name = name
        self.type = type
        self.tag = tag
    }
}

/// File metadata, and the `events` outbox written in the same transaction as an upload.
///
/// An upload is a row in state `uploading` first (so an interrupted upload can be swept), then
/// `ready` with its size, digest and version; a delete marks `deleting` until the object is gone.
public struct FileRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let columns = """
        id, workspace_id, name, object_key, status, declared_type, sniffed_type, content_type, size, sha256, tags, version,
        previous_id, created_by, created_at, updated_at
        """

    /// Records an upload that is starting.
    public func begin(id: UUID, workspaceID: UUID, name: String, objectKey: String, declaredType: String?, tags: [String],
                      createdBy: UUID) async throws(NvisyError) {
        do {
            try await client.query("""
                INSERT INTO files (id, workspace_id, name, object_key, declared_type, tags, created_by)
                VALUES (\(id), \(workspaceID), \(name), \(objectKey), \(declaredType), \(tags), \(createdBy))
                """, logger: logger)
        } catch { throw PostgresErrors.wrap(error, "begin upload") }
    }

    /// Bytes used by a workspace's files (uploads in progress included, by what they have declared so far).
    public func usage(workspaceID: UUID) async throws(NvisyError) -> Int64 {
        do {
            let rows = try await client.query("SELECT COALESCE(sum(size), 0)::bigint FROM files WHERE workspace_id = \(workspaceID)", logger: logger)
            for try await n in rows.decode(Int64.self) { return n }
            return 0
        } catch { throw PostgresErrors.wrap(error, "file usage") }
    }

    /// Marks the upload ready with what was measured, links it to the latest ready version of the
    /// same name, and writes the `file.uploaded` event — all in one transaction.
    public func complete(id: UUID, size: Int64, sha256: String, sniffedType: String?, contentType: String,
                         eventPayload: @Sendable (FileRecord) -> String) async throws(NvisyError) -> FileRecord {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let mine = try await connection.query("""
                    SELECT workspace_id, name FROM files WHERE id = \(id) AND status = 'uploading' FOR UPDATE
                    """, logger: logger)
                var owner: (UUID, String)?
                for try await row in mine.decode((UUID, String).self) { owner = row }
                guard let (workspaceID, name) = owner else {
                    throw NvisyError.conflict("the upload \(id) was swept or deleted before it completed; upload again")
                }
                // Serialise versions of one name within a workspace.
                try await connection.execute("SELECT pg_advisory_xact_lock(hashtext(\(workspaceID.uuidString + "/" + name)))", logger: logger)
                let latest = try await connection.query("""
                    SELECT id, version FROM files WHERE workspace_id = \(workspaceID) AND name = \(name) AND status = 'ready'
                    ORDER BY version DESC LIMIT 1
                    """, logger: logger)
                var previous: (UUID, Int32)?
                for try await row in latest.decode((UUID, Int32).self) { previous = row }
                let version = Int32((previous?.1 ?? 0) + 1)
                let rows = try await connection.query("""
                    UPDATE files SET status = 'ready', size = \(size), sha256 = \(sha256), sniffed_type = \(sniffedType),
                        content_type = \(contentType), updated_at = now(), previous_id = \(previous?.0), version = \(version)
                    WHERE id = \(id) RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                guard let file = try await Self.records(rows).first else {
                    throw NvisyError.conflict("the upload \(id) was swept or deleted before it completed; upload again")
                }
                let payload = eventPayload(file)
                try await connection.execute("""
                    INSERT INTO events (id, workspace_id, type, payload) VALUES (\(UUID.v7()), \(file.workspaceID), 'file.uploaded', \(payload)::jsonb)
                    """, logger: logger)
                return file
            }
        } catch { throw PostgresErrors.wrap(error, "complete upload") }
    }

    /// Removes a row (an upload that failed, or a file whose object is gone).
    public func remove(id: UUID) async throws(NvisyError) {
        do { try await client.query("DELETE FROM files WHERE id = \(id)", logger: logger) } catch { throw PostgresErrors.wrap(error, "remove file") }
    }

    /// A ready file.
    public func find(id: UUID) async throws(NvisyError) -> FileRecord? {
        do {
            let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM files WHERE id = \(id) AND status = 'ready'", logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "find file") }
    }

    /// Ready files of a workspace, ordered by id.
    public func list(workspaceID: UUID, filter: FileFilter, after: UUID?, limit: Int) async throws(NvisyError) -> Page<FileRecord> {
        do {
            let rows = try await client.query(Self.matching(workspaceID, filter, after, select: Self.columns, suffix: "ORDER BY id LIMIT \(limit + 1)"),
                                              logger: logger)
            return Page(fetched: try await Self.records(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list files") }
    }

    /// How many ready files of the workspace match the filter after `after` (what a run of
    /// `workspace/files` has left to read, for its ETA).
    public func count(workspaceID: UUID, filter: FileFilter, after: UUID?) async throws(NvisyError) -> Int {
        do {
            let rows = try await client.query(Self.matching(workspaceID, filter, after, select: "count(*)", suffix: ""), logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        } catch { throw PostgresErrors.wrap(error, "count files") }
    }

    /// `SELECT <select> FROM files WHERE <the filter> <suffix>`: one filter for listing and counting.
    private static func matching(_ workspaceID: UUID, _ filter: FileFilter, _ after: UUID?, select: String, suffix: String) -> PostgresQuery {
        var family: String?
        var exact: String?
        if let type = filter.type {
            if type.hasSuffix("/*") { family = String(type.dropLast()) } else if type.hasSuffix("/") { family = type } else { exact = type }
        }
        return """
            SELECT \(unescaped: select) FROM files
            WHERE workspace_id = \(workspaceID) AND status = 'ready'
              AND (\(filter.name)::text IS NULL OR name = \(filter.name))
              AND (\(exact)::text IS NULL OR content_type = \(exact))
              AND (\(family)::text IS NULL OR starts_with(content_type, \(family)))
              AND (\(filter.tag)::text IS NULL OR \(filter.tag) = ANY (tags))
              AND (\(after)::uuid IS NULL OR id > \(after))
            \(unescaped: suffix)
            """
    }

    /// Renames and/or retags a ready file.
    public func update(id: UUID, name: String?, tags: [String]?) async throws(NvisyError) -> FileRecord? {
        do {
            let rows = try await client.query("""
                UPDATE files SET name = COALESCE(\(name), name), tags = COALESCE(\(tags), tags), updated_at = now()
                WHERE id = \(id) AND status = 'ready' RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "update file") }
    }

    /// Marks a ready file `deleting` (it disappears from the API at once); nil when there is none.
    /// Hides a ready file (`deleting`) and records its `file.deleted` event in the same transaction.
    public func markDeleting(id: UUID) async throws(NvisyError) -> FileRecord? {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    UPDATE files SET status = 'deleting', updated_at = now() WHERE id = \(id) AND status = 'ready'
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                guard let file = try await Self.records(rows).first else { return nil }
                let data: [String: String] = ["fileId": file.id.uuidString.lowercased(), "name": file.name]
                try await Outbox.record(try OutboxEvent(workspaceID: file.workspaceID, type: "file.deleted", data: data), on: connection, logger: logger)
                return file
            }
        } catch { throw PostgresErrors.wrap(error, "delete file") }
    }

    /// Rows left behind: uploads not finished and deletes not done, last touched before `before`.
    public func leftovers(before: Date, limit: Int = 1000) async throws(NvisyError) -> [FileRecord] {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM files WHERE status <> 'ready' AND updated_at < \(before)
                  AND NOT (status = 'deleting' AND \(unescaped: Self.workspaceHasActiveRuns))
                ORDER BY updated_at LIMIT \(limit)
                """, logger: logger)
            return try await Self.records(rows)
        } catch { throw PostgresErrors.wrap(error, "find leftover files") }
    }

    /// A file's workspace has a run queued or running (which may read the file).
    static let workspaceHasActiveRuns = "EXISTS (SELECT 1 FROM runs r WHERE r.workspace_id = files.workspace_id AND r.status IN ('queued', 'running'))"

    /// Deleted files whose bytes no run may still read (no run of their workspace is queued or
    /// running): their objects can go.
    public func reapable(limit: Int = 100) async throws(NvisyError) -> [FileRecord] {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM files WHERE status = 'deleting' AND NOT \(unescaped: Self.workspaceHasActiveRuns)
                ORDER BY updated_at LIMIT \(limit)
                """, logger: logger)
            return try await Self.records(rows)
        } catch { throw PostgresErrors.wrap(error, "find deleted files") }
    }

    /// Whether any row (in any state) refers to the object.
    public func objectKeyExists(_ key: String) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("SELECT 1 FROM files WHERE object_key = \(key)", logger: logger)
            for try await _ in rows { return true }
            return false
        } catch { throw PostgresErrors.wrap(error, "find object key") }
    }

    /// The events of a workspace of one type, oldest first (for tests and consumers).
    public func events(workspaceID: UUID, type: String) async throws(NvisyError) -> [(id: UUID, payloadJSON: String, createdAt: Date)] {
        do {
            let rows = try await client.query("""
                SELECT id, payload::text, created_at FROM events WHERE workspace_id = \(workspaceID) AND type = \(type) ORDER BY id
                """, logger: logger)
            var out: [(UUID, String, Date)] = []
            for try await row in rows.decode((UUID, String, Date).self) { out.append(row) }
            return out.map { (id: $0.0, payloadJSON: $0.1, createdAt: $0.2) }
        } catch { throw PostgresErrors.wrap(error, "list events") }
    }

    static func records(_ rows: PostgresRowSequence) async throws -> [FileRecord] {
        var out: [FileRecord] = []
        for try await row in rows {
            let (id, workspace, name, key, status, declared, sniffed, contentType) =
                try row.decode((UUID, UUID, String, String, String, String?, String?, String).self)
            let cells = Array(row)
            let size = try cells[8].decode(Int64.self)
            let sha = try cells[9].decode(String?.self)
            let tags = try cells[10].decode([String].self)
            let version = try cells[11].decode(Int32.self)
            let previous = try cells[12].decode(UUID?.self)
            let createdBy = try cells[13].decode(UUID?.self)
            let created = try cells[14].decode(Date.self)
            let updated = try cells[15].decode(Date.self)
            out.append(FileRecord(id: id, workspaceID: workspace, name: name, objectKey: key, status: status, declaredType: declared,
                                  sniffedType: sniffed, contentType: contentType, size: size, sha256: sha, tags: tags, version: Int(version),
                                  previousID: previous, createdBy: createdBy, createdAt: created, updatedAt: updated))
        }
        return out
    }
}
