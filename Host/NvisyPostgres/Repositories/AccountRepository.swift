import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// Accounts: creation (the first one is the instance admin), lookup, change, deletion.
public struct AccountRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Creates an account. The first account of the instance becomes its admin; an email that
    /// is taken (case-insensitively) is a conflict.
    public func create(email: String, displayName: String, passwordHash: String) async throws(NvisyError) -> AccountRecord {
        let id = UUID.v7()
        let key = AccountRecord.emailKey(email)
        for attempt in 0..<2 {
            do {
                let mayBeAdmin = attempt == 0
                let query: PostgresQuery = """
                    INSERT INTO accounts (id, email, email_key, display_name, password_hash, is_instance_admin)
                    VALUES (\(id), \(email), \(key), \(displayName), \(passwordHash), \(mayBeAdmin) AND NOT EXISTS (SELECT 1 FROM accounts))
                    RETURNING id, email, display_name, password_hash, is_instance_admin, created_at
                    """
                return try await one(query)!
            } catch {
                if PostgresErrors.isUniqueViolation(error, constraint: "accounts_first_admin") { continue }
                if PostgresErrors.isUniqueViolation(error) {
                    throw NvisyError(.conflict, "an account with this email already exists; log in instead",
                                     fieldErrors: [.init(pointer: "/email", message: "is already registered")])
                }
                throw PostgresErrors.wrap(error, "create account")
            }
        }
        throw NvisyError.internal("could not create the account")
    }

    public func find(id: UUID) async throws(NvisyError) -> AccountRecord? {
        do {
            return try await one("SELECT id, email, display_name, password_hash, is_instance_admin, created_at FROM accounts WHERE id = \(id)")
        } catch { throw PostgresErrors.wrap(error, "find account") }
    }

    public func find(email: String) async throws(NvisyError) -> AccountRecord? {
        let key = AccountRecord.emailKey(email)
        do {
            return try await one("SELECT id, email, display_name, password_hash, is_instance_admin, created_at FROM accounts WHERE email_key = \(key)")
        } catch { throw PostgresErrors.wrap(error, "find account") }
    }

    /// Changes the given fields; nil leaves a field as it is.
    public func update(id: UUID, displayName: String?, email: String?, passwordHash: String?) async throws(NvisyError) -> AccountRecord? {
        do {
            return try await one("""
                UPDATE accounts SET
                    display_name = COALESCE(\(displayName), display_name),
                    email = COALESCE(\(email), email),
                    email_key = COALESCE(\(email.map(AccountRecord.emailKey)), email_key),
                    password_hash = COALESCE(\(passwordHash), password_hash),
                    updated_at = now()
                WHERE id = \(id)
                RETURNING id, email, display_name, password_hash, is_instance_admin, created_at
                """)
        } catch {
            if PostgresErrors.isUniqueViolation(error) {
                throw NvisyError(.conflict, "another account uses this email",
                                 fieldErrors: [.init(pointer: "/email", message: "is already registered")])
            }
            throw PostgresErrors.wrap(error, "update account")
        }
    }

    /// Names of the workspaces in which this account is the only owner.
    public func soleOwnerships(of id: UUID) async throws(NvisyError) -> [String] {
        do {
            let rows = try await client.query("""
                SELECT w.name FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
                WHERE m.account_id = \(id) AND m.role = 'owner'
                  AND NOT EXISTS (SELECT 1 FROM workspace_members o
                                  WHERE o.workspace_id = m.workspace_id AND o.role = 'owner' AND o.account_id <> \(id))
                ORDER BY w.name
                """, logger: logger)
            var names: [String] = []
            for try await name in rows.decode(String.self) { names.append(name) }
            return names
        } catch { throw PostgresErrors.wrap(error, "find sole ownerships") }
    }

    /// Deletes the account; its sessions, tokens and memberships go with it.
    public func delete(id: UUID) async throws(NvisyError) {
        do {
            try await client.query("DELETE FROM accounts WHERE id = \(id)", logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "delete account") }
    }

    private func one(_ query: PostgresQuery) async throws -> AccountRecord? {
        let rows = try await client.query(query, logger: logger)
        for try await (id, email, name, hash, admin, created) in rows.decode((UUID, String, String, String, Bool, Date).self) {
            return AccountRecord(id: id, email: email, displayName: name, passwordHash: hash, isInstanceAdmin: admin, createdAt: created)
        }
        return nil
    }
}

extension PostgresRowSequence {
    /// Reads the rows to the end, ignoring them.
    func drain() async throws {
        for try await _ in self {}
    }
}
