import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// One row per issued session JWT (its `jti`), so logout and revocation take effect at once.
public struct SessionRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Records a new session and returns its id (the JWT's `jti`).
    public func create(accountID: UUID, expiresAt: Date) async throws(NvisyError) -> UUID {
        let id = UUID.v7()
        do {
            try await client.query("INSERT INTO sessions (id, account_id, expires_at) VALUES (\(id), \(accountID), \(expiresAt))",
                                   logger: logger).drain()
            return id
        } catch { throw PostgresErrors.wrap(error, "create session") }
    }

    /// Whether the session exists for this account, is not revoked and has not expired.
    public func isActive(id: UUID, accountID: UUID) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("""
                SELECT 1 FROM sessions
                WHERE id = \(id) AND account_id = \(accountID) AND revoked_at IS NULL AND expires_at > now()
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        } catch { throw PostgresErrors.wrap(error, "check session") }
    }

    /// Revokes one session.
    public func revoke(id: UUID) async throws(NvisyError) {
        do {
            try await client.query("UPDATE sessions SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL", logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "revoke session") }
    }

    /// Revokes every session of an account except `keeping` (after a password change).
    public func revokeAll(accountID: UUID, keeping: UUID? = nil) async throws(NvisyError) {
        do {
            try await client.query("""
                UPDATE sessions SET revoked_at = now()
                WHERE account_id = \(accountID) AND revoked_at IS NULL AND id IS DISTINCT FROM \(keeping)
                """, logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "revoke sessions") }
    }
}
