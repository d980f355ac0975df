import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// API tokens: stored as a SHA-256 of the secret, with expiry and last-used time.
public struct APITokenRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func create(accountID: UUID, name: String, prefix: String, secretHash: String, expiresAt: Date?) async throws(NvisyError) -> APITokenRecord {
        let id = UUID.v7()
        do {
            let rows = try await client.query("""
                INSERT INTO api_tokens (id, account_id, name, prefix, token_hash, expires_at)
                VALUES (\(id), \(accountID), \(name), \(prefix), \(secretHash), \(expiresAt))
                RETURNING id, account_id, name, prefix, created_at, expires_at, last_used_at
                """, logger: logger)
            return try await Self.records(rows).first!
        } catch { throw PostgresErrors.wrap(error, "create api token") }
    }

    /// The account's live tokens, oldest first, after `after`.
    public func list(accountID: UUID, after: UUID?, limit: Int) async throws(NvisyError) -> Page<APITokenRecord> {
        do {
            let rows = try await client.query("""
                SELECT id, account_id, name, prefix, created_at, expires_at, last_used_at FROM api_tokens
                WHERE account_id = \(accountID) AND revoked_at IS NULL AND (\(after)::uuid IS NULL OR id > \(after))
                ORDER BY id LIMIT \(limit + 1)
                """, logger: logger)
            return Page(fetched: try await Self.records(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list api tokens") }
    }

    /// Revokes a token of this account; false when there is no such live token.
    public func revoke(id: UUID, accountID: UUID) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("""
                UPDATE api_tokens SET revoked_at = now()
                WHERE id = \(id) AND account_id = \(accountID) AND revoked_at IS NULL RETURNING id
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        } catch { throw PostgresErrors.wrap(error, "revoke api token") }
    }

    /// The live token with this secret hash (marking it used now), or nil.
    public func authenticate(secretHash: String) async throws(NvisyError) -> APITokenRecord? {
        do {
            let rows = try await client.query("""
                UPDATE api_tokens SET last_used_at = now()
                WHERE token_hash = \(secretHash) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                RETURNING id, account_id, name, prefix, created_at, expires_at, last_used_at
                """, logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "check api token") }
    }

    static func records(_ rows: PostgresRowSequence) async throws -> [APITokenRecord] {
        var all: [APITokenRecord] = []
        for try await (id, account, name, prefix, created, expires, used) in rows.decode((UUID, UUID, String, String, Date, Date?, Date?).self) {
            all.append(APITokenRecord(id: id, accountID: account, name: name, prefix: prefix, createdAt: created, expiresAt: expires, lastUsedAt: used))
        }
        return all
    }
}
