import Foundation
import Hummingbird
import NvisyCore
import NvisyPostgres

/// Signup, login, logout.
extension APIHandler {
    func signup(_ input: Operations.Signup.Input) async throws -> Operations.Signup.Output {
        let context = try context
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        try await limit(loginLimitPerIP, "ip:\(context.remoteIP ?? "unknown")")
        var check = Validation()
        let email = check.email(body.email, at: "/email") ?? ""
        let name = check.text(body.displayName, at: "/displayName", max: 100) ?? ""
        for problem in PasswordPolicy.problems(body.password, email: email, displayName: name) { check.fail(problem.pointer, problem.message) }
        try check.check()
        let hash = try await deps.hasher.hash(body.password)
        let account = try await deps.accounts.create(email: email, displayName: name, passwordHash: hash)
        let session = try await deps.authenticator.startSession(for: account.id, lifetime: deps.settings.sessionLifetime)
        return .created(.init(body: .json(.init(token: session.token, expiresAt: session.expiresAt, account: .init(account)))))
    }

    func login(_ input: Operations.Login.Input) async throws -> Operations.Login.Output {
        let context = try context
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        try await limit(loginLimitPerIP, "ip:\(context.remoteIP ?? "unknown")")
        try await limit(loginLimitPerAccount, "email:\(AccountRecord.emailKey(body.email))")
        let account = try await deps.accounts.find(email: body.email)
        // Unknown email: the hasher still verifies (a decoy), so the answer takes as long.
        guard await deps.hasher.verify(body.password, against: account?.passwordHash), let account else {
            throw NvisyError.unauthorized("the email or password is wrong")
        }
        let session = try await deps.authenticator.startSession(for: account.id, lifetime: deps.settings.sessionLifetime)
        return .ok(.init(body: .json(.init(token: session.token, expiresAt: session.expiresAt, account: .init(account)))))
    }

    func logout(_ input: Operations.Logout.Input) async throws -> Operations.Logout.Output {
        let me = try context.requireSignedIn()
        switch me.credential {
        case .session(let id): try await deps.sessions.revoke(id: id)
        case .apiToken(let id): _ = try await deps.apiTokens.revoke(id: id, accountID: me.accountID)
        }
        return .noContent(.init())
    }

    /// Counts an attempt; over the limit it is 429 with Retry-After.
    func limit(_ limiter: RateLimiter, _ key: String) async throws {
        if let wait = try await limiter.hit(key) {
            let seconds = max(1, wait.components.seconds + (wait.components.attoseconds > 0 ? 1 : 0))
            throw HTTPError(.tooManyRequests, headers: [.retryAfter: String(seconds)],
                            message: "too many attempts; try again in \(seconds) s")
        }
    }
}
