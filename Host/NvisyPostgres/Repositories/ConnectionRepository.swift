import Foundation
import Logging
import NIOCore
import NvisyCore
import PostgresNIO

/// A row of `connections`. `sealedCredentials` is ciphertext; it never leaves the server.
public struct ConnectionRecord: Sendable, Equatable {
    public var id: UUID
    public var workspaceID: UUID
    public var name: String
    public var provider: String
    /// The config as JSON text.
    public var configJSON: String
    public var sealedCredentials: [UInt8]?
    /// Names of the credential fields that are set (never their values).
    public var credentialFields: [String]
    /// The id of the master key that sealed the credentials.
    public var keyID: String?
    public var createdBy: UUID?
    public var createdAt: Date
    public var updatedAt: Date
}

/// Connections of a workspace: a provider, its config, and sealed credentials.
public struct ConnectionRepository: Sendable {
    public let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let columns = "id, workspace_id, name, provider, config::text, credentials, credential_fields, key_id, created_by, created_at, updated_at"

    /// Inserts a connection whose id the caller chose (the credentials are sealed with it as associated data).
    public func create(id: UUID, workspaceID: UUID, name: String, provider: String, configJSON: String,
                       sealedCredentials: [UInt8]?, credentialFields: [String], keyID: String?,
                       createdBy: UUID) async throws(NvisyError) -> ConnectionRecord {
        let sealed = sealedCredentials.map { ByteBuffer(bytes: $0) }
        do {
            let rows = try await client.query("""
                INSERT INTO connections (id, workspace_id, name, provider, config, credentials, credential_fields, key_id, created_by)
                VALUES (\(id), \(workspaceID), \(name), \(provider), \(configJSON)::jsonb, \(sealed), \(credentialFields), \(keyID), \(createdBy))
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first!
        } catch {
            if PostgresErrors.isUniqueViolation(error) {
                throw NvisyError.conflict("a connection named \"\(name)\" already exists in this workspace; pick another name").with(pointer: "/name")
            }
            throw PostgresErrors.wrap(error, "create connection")
        }
    }

    public func find(id: UUID) async throws(NvisyError) -> ConnectionRecord? {
        do {
            let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM connections WHERE id = \(id)", logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "find connection") }
    }

    /// The connections of a workspace, ordered by id.
    public func list(workspaceID: UUID, provider: String?, after: UUID?, limit: Int) async throws(NvisyError) -> Page<ConnectionRecord> {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM connections
                WHERE workspace_id = \(workspaceID) AND (\(provider)::text IS NULL OR provider = \(provider))
                  AND (\(after)::uuid IS NULL OR id > \(after))
                ORDER BY id LIMIT \(limit + 1)
                """, logger: logger)
            return Page(fetched: try await Self.records(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list connections") }
    }

    /// Changes the name and/or config.
    public func update(id: UUID, name: String?, configJSON: String?) async throws(NvisyError) -> ConnectionRecord? {
        do {
            let rows = try await client.query("""
                UPDATE connections SET name = COALESCE(\(name), name), config = COALESCE(\(configJSON)::jsonb, config), updated_at = now()
                WHERE id = \(id) RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first
        } catch {
            if PostgresErrors.isUniqueViolation(error) {
                throw NvisyError.conflict("a connection named \"\(name ?? "")\" already exists in this workspace; pick another name").with(pointer: "/name")
            }
            throw PostgresErrors.wrap(error, "update connection")
        }
    }

    /// Replaces the sealed credentials (nil clears them).
    public func setCredentials(id: UUID, sealed: [UInt8]?, fields: [String], keyID: String?) async throws(NvisyError) -> ConnectionRecord? {
        let buffer = sealed.map { ByteBuffer(bytes: $0) }
        do {
            let rows = try await client.query("""
                UPDATE connections SET credentials = \(buffer), credential_fields = \(fields), key_id = \(keyID), updated_at = now()
                WHERE id = \(id) RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "set connection credentials") }
    }

    public func delete(id: UUID) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("DELETE FROM connections WHERE id = \(id) RETURNING id", logger: logger)
            for try await _ in rows.decode(UUID.self) { return true }
            return false
        } catch { throw PostgresErrors.wrap(error, "delete connection") }
    }

    /// How many connections still have credentials sealed with a key other than `keyID`.
    public func countSealed(notWith keyID: String) async throws(NvisyError) -> Int {
        do {
            let rows = try await client.query("""
                SELECT count(*)::bigint FROM connections WHERE credentials IS NOT NULL AND key_id IS DISTINCT FROM \(keyID)
                """, logger: logger)
            for try await n in rows.decode(Int64.self) { return Int(n) }
            return 0
        } catch { throw PostgresErrors.wrap(error, "count sealed credentials") }
    }

    /// Re-seals up to `limit` credentials not sealed with `keyID`, in one transaction, with rows
    /// locked (`SKIP LOCKED`, so two rotations never fight over a row). `reseal` gets
    /// (workspace, id, key id, sealed) and returns the new sealed value. Returns how many rows changed.
    public func resealBatch(notWith keyID: String, limit: Int,
                            reseal: @Sendable (UUID, UUID, String?, [UInt8]) throws -> [UInt8]) async throws(NvisyError) -> Int {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    SELECT id, workspace_id, key_id, credentials FROM connections
                    WHERE credentials IS NOT NULL AND key_id IS DISTINCT FROM \(keyID)
                    ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    """, logger: logger)
                var batch: [(UUID, UUID, String?, ByteBuffer)] = []
                for try await row in rows.decode((UUID, UUID, String?, ByteBuffer).self) { batch.append(row) }
                for (id, workspace, oldKey, sealed) in batch {
                    let fresh = try reseal(workspace, id, oldKey, Array(buffer: sealed))
                    try await connection.execute("""
                        UPDATE connections SET credentials = \(ByteBuffer(bytes: fresh)), key_id = \(keyID) WHERE id = \(id)
                        """, logger: logger)
                }
                return batch.count
            }
        } catch { throw PostgresErrors.wrap(error, "re-seal credentials") }
    }

    static func records(_ rows: PostgresRowSequence) async throws -> [ConnectionRecord] {
        var out: [ConnectionRecord] = []
        for try await (id, workspace, name, provider, config, sealed, fields, keyID, createdBy, created, updated) in rows.decode(
            (UUID, UUID, String, String, String, ByteBuffer?, [String], String?, UUID?, Date, Date).self) {
            out.append(ConnectionRecord(id: id, workspaceID: workspace, name: name, provider: provider, configJSON: config,
                                        sealedCredentials: sealed.map { Array(buffer: $0) }, credentialFields: fields, keyID: keyID,
                                        createdBy: createdBy, createdAt: created, updatedAt: updated))
        }
        return out
    }
}

extension NvisyError {
    /// The same error, naming the field it is about.
    func with(pointer: String) -> NvisyError {
        var copy = self
        copy.fieldErrors = [.init(pointer: pointer, message: message)]
        return copy
    }
}
