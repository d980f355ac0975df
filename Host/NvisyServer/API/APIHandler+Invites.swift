import Foundation
import NvisyCore
import NvisyPostgres

/// Invites: by email or a shareable code; accept, decline, withdraw.
extension APIHandler {
    func createInvite(_ input: Operations.CreateInvite.Input) async throws -> Operations.CreateInvite.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        let context = try context
        let me = try context.requireSignedIn()
        let myRole = try await context.require(.manageMembers, in: id)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let email = check.email(body.email, at: "/email")
        let hours = body.expiresInHours ?? 168
        if !(1...720).contains(hours) { check.fail("/expiresInHours", "must be from 1 to 720") }
        try check.check()
        let role = body.role.workspaceRole
        if role > myRole { throw NvisyError.forbidden("you cannot invite someone as \(role.rawValue), above your own role (\(myRole.rawValue))") }
        let code = SecretToken.generate(prefix: "inv_")
        let invite = try await deps.invites.create(workspaceID: id, email: email, role: role, codeHash: SecretToken.hash(code),
                                                   invitedBy: me.accountID, expiresAt: Date().addingTimeInterval(TimeInterval(hours) * 3600))
        await record(id, me, "invite.created", targetType: "invite", targetID: invite.id,
                     details: ["role": role.rawValue, "email": email ?? "(shareable code)"])
        return .created(.init(body: .json(.init(code: code, invite: .init(invite)))))
    }

    func listInvites(_ input: Operations.ListInvites.Input) async throws -> Operations.ListInvites.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.manageMembers, in: id)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.invites.pending(workspaceID: id, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.Invite.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func revokeInvite(_ input: Operations.RevokeInvite.Input) async throws -> Operations.RevokeInvite.Output {
        let id = try pathID(input.path.inviteId, "inviteId")
        let context = try context
        let me = try context.requireSignedIn()
        guard let invite = try await deps.invites.find(id: id) else { throw NvisyError.notFound("no invite \(id.text)") }
        try await context.require(.manageMembers, in: invite.workspaceID)
        guard try await deps.invites.close(id: id, as: .revoked, by: me.accountID) else {
            throw NvisyError.conflict("the invite was already \(invite.status.rawValue)")
        }
        await record(invite.workspaceID, me, "invite.revoked", targetType: "invite", targetID: id)
        return .noContent(.init())
    }

    func acceptInviteCode(_ input: Operations.AcceptInviteCode.Input) async throws -> Operations.AcceptInviteCode.Output {
        let me = try context.requireSignedIn()
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        let code = body.code.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let invite = try await deps.invites.find(codeHash: SecretToken.hash(code)) else {
            throw NvisyError(.notFound, "no invite has this code", fieldErrors: [.init(pointer: "/code", message: "is unknown")])
        }
        return .ok(.init(body: .json(try await accept(invite, by: me))))
    }

    func acceptInvite(_ input: Operations.AcceptInvite.Input) async throws -> Operations.AcceptInvite.Output {
        let me = try context.requireSignedIn()
        let invite = try await addressed(try pathID(input.path.inviteId, "inviteId"), to: me)
        return .ok(.init(body: .json(try await accept(invite, by: me))))
    }

    func declineInvite(_ input: Operations.DeclineInvite.Input) async throws -> Operations.DeclineInvite.Output {
        let me = try context.requireSignedIn()
        let invite = try await addressed(try pathID(input.path.inviteId, "inviteId"), to: me)
        guard invite.status == .pending, try await deps.invites.close(id: invite.id, as: .declined, by: me.accountID) else {
            throw NvisyError.conflict("the invite was already \(invite.status.rawValue)")
        }
        await record(invite.workspaceID, me, "invite.declined", targetType: "invite", targetID: invite.id)
        return .noContent(.init())
    }

    /// An invite addressed to the caller's email; any other is 404 (ids leak nothing).
    private func addressed(_ id: UUID, to me: Identity) async throws -> InviteRecord {
        guard let invite = try await deps.invites.find(id: id), let email = invite.email,
              AccountRecord.emailKey(email) == AccountRecord.emailKey(me.account.email)
        else { throw NvisyError.notFound("no invite \(id.text) for you") }
        return invite
    }

    private func accept(_ invite: InviteRecord, by me: Identity) async throws -> Components.Schemas.Member {
        if let email = invite.email, AccountRecord.emailKey(email) != AccountRecord.emailKey(me.account.email) {
            throw NvisyError.forbidden("this invite is for another email address")
        }
        guard invite.status == .pending else { throw NvisyError.conflict("the invite was already \(invite.status.rawValue)") }
        guard invite.expiresAt > Date() else { throw NvisyError.conflict("the invite expired; ask for a new one") }
        guard try await deps.invites.accept(id: invite.id, accountID: me.accountID, workspaces: deps.workspaces),
              let member = try await deps.workspaces.member(me.accountID, of: invite.workspaceID)
        else { throw NvisyError.conflict("the invite is no longer pending") }
        await record(invite.workspaceID, me, "invite.accepted", targetType: "invite", targetID: invite.id, details: ["role": invite.role.rawValue])
        return .init(member)
    }
}
