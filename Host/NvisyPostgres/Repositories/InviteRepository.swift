import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// Workspace invites: by email (only that account may accept) or a shareable code (anyone
/// with it may). The code is stored as a SHA-256; answered and expired invites stay as history.
public struct InviteRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let select = """
        SELECT i.id, i.workspace_id, w.name, i.email, i.role, i.invited_by, i.created_at, i.expires_at, i.status
        FROM workspace_invites i JOIN workspaces w ON w.id = i.workspace_id
        """

    public func create(workspaceID: UUID, email: String?, role: WorkspaceRole, codeHash: String, invitedBy: UUID,
                       expiresAt: Date) async throws(NvisyError) -> InviteRecord {
        let id = UUID.v7()
        do {
            try await client.query("""
                INSERT INTO workspace_invites (id, workspace_id, email_key, email, role, code_hash, invited_by, expires_at)
                VALUES (\(id), \(workspaceID), \(email.map(AccountRecord.emailKey)), \(email), \(role.rawValue), \(codeHash),
                        \(invitedBy), \(expiresAt))
                """, logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "create invite") }
        guard let invite = try await find(id: id) else { throw NvisyError.internal("invite vanished after creation") }
        return invite
    }

    public func find(id: UUID) async throws(NvisyError) -> InviteRecord? {
        do {
            return try await Self.invites(client.query(PostgresQuery(unsafeSQL: Self.select + " WHERE i.id = $1", binds: Self.binds(id)),
                                                       logger: logger)).first
        } catch { throw PostgresErrors.wrap(error, "find invite") }
    }

    public func find(codeHash: String) async throws(NvisyError) -> InviteRecord? {
        do {
            return try await Self.invites(client.query(PostgresQuery(unsafeSQL: Self.select + " WHERE i.code_hash = $1", binds: Self.binds(codeHash)),
                                                       logger: logger)).first
        } catch { throw PostgresErrors.wrap(error, "find invite") }
    }

    /// Pending, unexpired invites of a workspace, oldest first.
    public func pending(workspaceID: UUID, after: UUID?, limit: Int) async throws(NvisyError) -> Page<InviteRecord> {
        do {
            var binds = PostgresBindings()
            binds.append(workspaceID)
            binds.append(after)
            binds.append(limit + 1)
            let rows = try await client.query(PostgresQuery(unsafeSQL: Self.select + """
                 WHERE i.workspace_id = $1 AND i.status = 'pending' AND i.expires_at > now() AND ($2::uuid IS NULL OR i.id > $2)
                 ORDER BY i.id LIMIT $3
                """, binds: binds), logger: logger)
            return Page(fetched: try await Self.invites(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list invites") }
    }

    /// Pending, unexpired invites addressed to an email, oldest first.
    public func pending(email: String, after: UUID?, limit: Int) async throws(NvisyError) -> Page<InviteRecord> {
        do {
            var binds = PostgresBindings()
            binds.append(AccountRecord.emailKey(email))
            binds.append(after)
            binds.append(limit + 1)
            let rows = try await client.query(PostgresQuery(unsafeSQL: Self.select + """
                 WHERE i.email_key = $1 AND i.status = 'pending' AND i.expires_at > now() AND ($2::uuid IS NULL OR i.id > $2)
                 ORDER BY i.id LIMIT $3
                """, binds: binds), logger: logger)
            return Page(fetched: try await Self.invites(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list invites") }
    }

    /// Accepts a pending invite for `accountID`, adding the membership in the same transaction.
    /// False when the invite was answered, revoked or expired meanwhile.
    public func accept(id: UUID, accountID: UUID, workspaces: WorkspaceRepository) async throws(NvisyError) -> Bool {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    UPDATE workspace_invites SET status = 'accepted', answered_by = \(accountID), answered_at = now()
                    WHERE id = \(id) AND status = 'pending' AND expires_at > now()
                    RETURNING workspace_id, role
                    """, logger: logger)
                var target: (UUID, String)?
                for try await row in rows.decode((UUID, String).self) { target = row }
                guard let (workspaceID, role) = target else { return false }
                try await workspaces.addMember(accountID, to: workspaceID, role: WorkspaceRole(rawValue: role) ?? .viewer, on: connection)
                // Webhooks: member.joined, committed with the membership (transactional outbox).
                let data = #"{"workspaceId":"\#(workspaceID.uuidString.lowercased())","accountId":"\#(accountID.uuidString.lowercased())","#
                    + #""role":"\#(role)","inviteId":"\#(id.uuidString.lowercased())"}"#
                try await Outbox.record(OutboxEvent(workspaceID: workspaceID, type: "member.joined", dataJSON: data), on: connection, logger: logger)
                return true
            }
        } catch { throw PostgresErrors.wrap(error, "accept invite") }
    }

    /// Marks a pending invite declined or revoked; false when it was not pending.
    public func close(id: UUID, as status: InviteRecord.Status, by accountID: UUID) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("""
                UPDATE workspace_invites SET status = \(status.rawValue), answered_by = \(accountID), answered_at = now()
                WHERE id = \(id) AND status = 'pending' RETURNING id
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        } catch { throw PostgresErrors.wrap(error, "close invite") }
    }

    static func binds(_ value: some PostgresDynamicTypeEncodable) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(value)
        return binds
    }

    static func invites(_ rows: PostgresRowSequence) async throws -> [InviteRecord] {
        var all: [InviteRecord] = []
        for try await (id, ws, wsName, email, role, by, created, expires, status)
            in rows.decode((UUID, UUID, String, String?, String, UUID?, Date, Date, String).self) {
            all.append(InviteRecord(id: id, workspaceID: ws, workspaceName: wsName, email: email, role: WorkspaceRole(rawValue: role) ?? .viewer,
                                    invitedBy: by, createdAt: created, expiresAt: expires, status: InviteRecord.Status(rawValue: status) ?? .revoked))
        }
        return all
    }
}
