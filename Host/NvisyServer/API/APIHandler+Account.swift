import Foundation
import NvisyCore
import NvisyPostgres

/// The signed-in account and its API tokens.
extension APIHandler {
    func getAccount(_ input: Operations.GetAccount.Input) async throws -> Operations.GetAccount.Output {
        let me = try context.requireSignedIn()
        return .ok(.init(body: .json(.init(me.account))))
    }

    func updateAccount(_ input: Operations.UpdateAccount.Input) async throws -> Operations.UpdateAccount.Output {
        let me = try context.requireSignedIn()
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.displayName, at: "/displayName", max: 100)
        let email = check.email(body.email, at: "/email")
        if let password = body.password {
            for problem in PasswordPolicy.problems(password, email: email ?? me.account.email, displayName: name ?? me.account.displayName) {
                check.fail(problem.pointer, problem.message)
            }
        }
        if (email != nil || body.password != nil) && body.currentPassword == nil {
            check.fail("/currentPassword", "is required to change the email or password")
        }
        try check.check()
        if let current = body.currentPassword, !(await deps.hasher.verify(current, against: me.account.passwordHash)) {
            throw NvisyError(.invalidInput, "the current password is wrong", fieldErrors: [.init(pointer: "/currentPassword", message: "is wrong")])
        }
        let hash: String? = if let password = body.password { try await deps.hasher.hash(password) } else { nil }
        guard let updated = try await deps.accounts.update(id: me.accountID, displayName: name, email: email, passwordHash: hash) else {
            throw NvisyError.notFound("the account no longer exists")
        }
        if hash != nil {
            // A new password ends every other session.
            if case .session(let current) = me.credential { try await deps.sessions.revokeAll(accountID: me.accountID, keeping: current) }
            else { try await deps.sessions.revokeAll(accountID: me.accountID) }
        }
        return .ok(.init(body: .json(.init(updated))))
    }

    func deleteAccount(_ input: Operations.DeleteAccount.Input) async throws -> Operations.DeleteAccount.Output {
        let me = try context.requireSignedIn()
        let sole = try await deps.accounts.soleOwnerships(of: me.accountID)
        guard sole.isEmpty else {
            throw NvisyError.conflict("you are the only owner of \(sole.map { "'\($0)'" }.joined(separator: ", ")); make another member owner or delete the workspace first")
        }
        try await deps.accounts.delete(id: me.accountID)
        return .noContent(.init())
    }

    func listMyInvites(_ input: Operations.ListMyInvites.Input) async throws -> Operations.ListMyInvites.Output {
        let me = try context.requireSignedIn()
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.invites.pending(email: me.account.email, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.Invite.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func createApiToken(_ input: Operations.CreateApiToken.Input) async throws -> Operations.CreateApiToken.Output {
        let me = try context.requireSignedIn()
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.name, at: "/name", max: 100) ?? ""
        if let days = body.expiresInDays, !(1...3650).contains(days) { check.fail("/expiresInDays", "must be from 1 to 3650") }
        try check.check()
        let secret = SecretToken.generate(prefix: SecretToken.apiTokenPrefix)
        let expiresAt = body.expiresInDays.map { Date().addingTimeInterval(TimeInterval($0) * 86400) }
        let record = try await deps.apiTokens.create(accountID: me.accountID, name: name, prefix: String(secret.prefix(12)),
                                                     secretHash: SecretToken.hash(secret), expiresAt: expiresAt)
        return .created(.init(body: .json(.init(token: secret, apiToken: .init(record)))))
    }

    func listApiTokens(_ input: Operations.ListApiTokens.Input) async throws -> Operations.ListApiTokens.Output {
        let me = try context.requireSignedIn()
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.apiTokens.list(accountID: me.accountID, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.ApiToken.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func deleteApiToken(_ input: Operations.DeleteApiToken.Input) async throws -> Operations.DeleteApiToken.Output {
        let me = try context.requireSignedIn()
        let id = try pathID(input.path.tokenId, "tokenId")
        guard try await deps.apiTokens.revoke(id: id, accountID: me.accountID) else { throw NvisyError.notFound("no API token \(id.text)") }
        return .noContent(.init())
    }
}
