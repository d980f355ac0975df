import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// Workspaces and their members. Every change that could leave a workspace without an owner
/// is refused (409) inside the same transaction that would make it.
public struct WorkspaceRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Creates a workspace with `ownerID` as its owner.
    public func create(name: String, description: String?, ownerID: UUID) async throws(NvisyError) -> WorkspaceRecord {
        let id = UUID.v7()
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    INSERT INTO workspaces (id, name, description, created_by) VALUES (\(id), \(name), \(description), \(ownerID))
                    RETURNING id, name, description, created_at, updated_at
                    """, logger: logger)
                let workspace = try await Self.workspaces(rows).first!
                try await connection.execute("""
                    INSERT INTO workspace_members (workspace_id, account_id, role) VALUES (\(id), \(ownerID), 'owner')
                    """, logger: logger)
                return workspace
            }
        } catch { throw PostgresErrors.wrap(error, "create workspace") }
    }

    public func find(id: UUID) async throws(NvisyError) -> WorkspaceRecord? {
        do {
            let rows = try await client.query("SELECT id, name, description, created_at, updated_at FROM workspaces WHERE id = \(id)", logger: logger)
            return try await Self.workspaces(rows).first
        } catch { throw PostgresErrors.wrap(error, "find workspace") }
    }

    /// The account's role in the workspace, or nil when it is not a member (or there is no such workspace).
    public func role(of accountID: UUID, in workspaceID: UUID) async throws(NvisyError) -> WorkspaceRole? {
        do {
            let rows = try await client.query("""
                SELECT role FROM workspace_members WHERE workspace_id = \(workspaceID) AND account_id = \(accountID)
                """, logger: logger)
            for try await role in rows.decode(String.self) { return WorkspaceRole(rawValue: role) }
            return nil
        } catch { throw PostgresErrors.wrap(error, "find role") }
    }

    /// The workspaces an account belongs to, with its role in each, ordered by id.
    public func list(for accountID: UUID, after: UUID?, limit: Int) async throws(NvisyError) -> Page<(WorkspaceRecord, WorkspaceRole)> {
        do {
            let rows = try await client.query("""
                SELECT w.id, w.name, w.description, w.created_at, w.updated_at, m.role
                FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
                WHERE m.account_id = \(accountID) AND (\(after)::uuid IS NULL OR w.id > \(after))
                ORDER BY w.id LIMIT \(limit + 1)
                """, logger: logger)
            var all: [(WorkspaceRecord, WorkspaceRole)] = []
            for try await (id, name, description, created, updated, role) in rows.decode((UUID, String, String?, Date, Date, String).self) {
                all.append((WorkspaceRecord(id: id, name: name, description: description, createdAt: created, updatedAt: updated),
                            WorkspaceRole(rawValue: role) ?? .viewer))
            }
            return Page(fetched: all, limit: limit, key: { $0.0.id })
        } catch { throw PostgresErrors.wrap(error, "list workspaces") }
    }

    /// Changes name and/or description; `clearDescription` sets it to null.
    public func update(id: UUID, name: String?, description: String?) async throws(NvisyError) -> WorkspaceRecord? {
        do {
            let rows = try await client.query("""
                UPDATE workspaces SET name = COALESCE(\(name), name), description = COALESCE(\(description), description),
                    updated_at = now()
                WHERE id = \(id) RETURNING id, name, description, created_at, updated_at
                """, logger: logger)
            return try await Self.workspaces(rows).first
        } catch { throw PostgresErrors.wrap(error, "update workspace") }
    }

    public func delete(id: UUID) async throws(NvisyError) {
        do {
            try await client.query("DELETE FROM workspaces WHERE id = \(id)", logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "delete workspace") }
    }

    // MARK: Members

    public func members(of workspaceID: UUID, after: UUID?, limit: Int) async throws(NvisyError) -> Page<MemberRecord> {
        do {
            let rows = try await client.query("""
                SELECT m.workspace_id, m.account_id, a.email, a.display_name, m.role, m.joined_at
                FROM workspace_members m JOIN accounts a ON a.id = m.account_id
                WHERE m.workspace_id = \(workspaceID) AND (\(after)::uuid IS NULL OR m.account_id > \(after))
                ORDER BY m.account_id LIMIT \(limit + 1)
                """, logger: logger)
            return Page(fetched: try await Self.members(rows), limit: limit, key: \.accountID)
        } catch { throw PostgresErrors.wrap(error, "list members") }
    }

    public func member(_ accountID: UUID, of workspaceID: UUID) async throws(NvisyError) -> MemberRecord? {
        do {
            let rows = try await client.query("""
                SELECT m.workspace_id, m.account_id, a.email, a.display_name, m.role, m.joined_at
                FROM workspace_members m JOIN accounts a ON a.id = m.account_id
                WHERE m.workspace_id = \(workspaceID) AND m.account_id = \(accountID)
                """, logger: logger)
            return try await Self.members(rows).first
        } catch { throw PostgresErrors.wrap(error, "find member") }
    }

    /// Adds a member; an existing member is a conflict.
    public func addMember(_ accountID: UUID, to workspaceID: UUID, role: WorkspaceRole, on connection: PostgresConnection) async throws {
        do {
            try await connection.execute("""
                INSERT INTO workspace_members (workspace_id, account_id, role) VALUES (\(workspaceID), \(accountID), \(role.rawValue))
                """, logger: logger)
        } catch where PostgresErrors.isUniqueViolation(error) {
            throw NvisyError.conflict("you are already a member of this workspace")
        }
    }

    /// Sets a member's role; demoting the last owner is a conflict. Nil when not a member.
    public func setRole(_ role: WorkspaceRole, of accountID: UUID, in workspaceID: UUID) async throws(NvisyError) -> MemberRecord? {
        do {
            let changed: Bool = try await client.withTransaction(logger: logger) { connection in
                try await Self.lockOwners(workspaceID, connection: connection, logger: logger)
                if role != .owner { try await Self.refuseLastOwner(accountID, workspaceID, connection: connection, logger: logger, doing: "demote") }
                let rows = try await connection.query("""
                    UPDATE workspace_members SET role = \(role.rawValue)
                    WHERE workspace_id = \(workspaceID) AND account_id = \(accountID) RETURNING account_id
                    """, logger: logger)
                for try await _ in rows { return true }
                return false
            }
            return changed ? try await member(accountID, of: workspaceID) : nil
        } catch { throw PostgresErrors.wrap(error, "change role") }
    }

    /// Removes a member; removing the last owner is a conflict. False when not a member.
    public func removeMember(_ accountID: UUID, from workspaceID: UUID) async throws(NvisyError) -> Bool {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await Self.lockOwners(workspaceID, connection: connection, logger: logger)
                try await Self.refuseLastOwner(accountID, workspaceID, connection: connection, logger: logger, doing: "remove")
                let rows = try await connection.query("""
                    DELETE FROM workspace_members WHERE workspace_id = \(workspaceID) AND account_id = \(accountID) RETURNING account_id
                    """, logger: logger)
                for try await _ in rows { return true }
                return false
            }
        } catch { throw PostgresErrors.wrap(error, "remove member") }
    }

    /// Serialises owner changes of one workspace (two owners demoting each other at once).
    static func lockOwners(_ workspaceID: UUID, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.execute("SELECT id FROM workspaces WHERE id = \(workspaceID) FOR UPDATE", logger: logger)
    }

    static func refuseLastOwner(_ accountID: UUID, _ workspaceID: UUID, connection: PostgresConnection, logger: Logger, doing: String) async throws {
        let rows = try await connection.query("""
            SELECT (SELECT role FROM workspace_members WHERE workspace_id = \(workspaceID) AND account_id = \(accountID)) = 'owner',
                   (SELECT count(*) FROM workspace_members WHERE workspace_id = \(workspaceID) AND role = 'owner')
            """, logger: logger)
        for try await (isOwner, owners) in rows.decode((Bool?, Int).self) where isOwner == true && owners <= 1 {
            throw NvisyError.conflict("cannot \(doing) the last owner of a workspace; make another member owner first, or delete the workspace")
        }
    }

    static func workspaces(_ rows: PostgresRowSequence) async throws -> [WorkspaceRecord] {
        var all: [WorkspaceRecord] = []
        for try await (id, name, description, created, updated) in rows.decode((UUID, String, String?, Date, Date).self) {
            all.append(WorkspaceRecord(id: id, name: name, description: description, createdAt: created, updatedAt: updated))
        }
        return all
    }

    static func members(_ rows: PostgresRowSequence) async throws -> [MemberRecord] {
        var all: [MemberRecord] = []
        for try await (ws, account, email, name, role, joined) in rows.decode((UUID, UUID, String, String, String, Date).self) {
            all.append(MemberRecord(workspaceID: ws, accountID: account, email: email, displayName: name,
                                    role: WorkspaceRole(rawValue: role) ?? .viewer, joinedAt: joined))
        }
        return all
    }
}
