import Foundation
import NvisyCore
import NvisyPostgres

/// Turns a bearer token — a session JWT or an API token — into an ``Identity``, checking its
/// row each time so that logout, revocation and account deletion take effect at once.
public struct Authenticator: Sendable {
    let keys: SessionKeys
    let accounts: AccountRepository
    let sessions: SessionRepository
    let apiTokens: APITokenRepository

    public init(keys: SessionKeys, accounts: AccountRepository, sessions: SessionRepository, apiTokens: APITokenRepository) {
        self.keys = keys
        self.accounts = accounts
        self.sessions = sessions
        self.apiTokens = apiTokens
    }

    public func authenticate(bearer token: String) async throws(NvisyError) -> Identity {
        if token.hasPrefix(SecretToken.apiTokenPrefix) {
            guard let record = try await apiTokens.authenticate(secretHash: SecretToken.hash(token)),
                  let account = try await accounts.find(id: record.accountID)
            else { throw NvisyError.unauthorized("the API token is unknown, revoked or expired") }
            return Identity(account: account, credential: .apiToken(record.id))
        }
        let claims = try await keys.verify(token)
        guard let accountID = UUID(uuidString: claims.sub.value), let sessionID = UUID(uuidString: claims.jti.value) else {
            throw NvisyError.unauthorized("the session token is invalid; log in again")
        }
        guard try await sessions.isActive(id: sessionID, accountID: accountID),
              let account = try await accounts.find(id: accountID)
        else { throw NvisyError.unauthorized("the session has ended (logged out, revoked or expired); log in again") }
        return Identity(account: account, credential: .session(sessionID))
    }

    /// Starts a session for an account: a row, and the JWT that names it.
    public func startSession(for accountID: UUID, lifetime: Duration) async throws(NvisyError) -> (token: String, expiresAt: Date) {
        let now = Date()
        let expiresAt = now.addingTimeInterval(TimeInterval(lifetime.components.seconds))
        let id = try await sessions.create(accountID: accountID, expiresAt: expiresAt)
        let token = try await keys.sign(accountID: accountID, sessionID: id, issuedAt: now, expiresAt: expiresAt)
        return (token, expiresAt)
    }
}
