import Foundation
import NvisyCore
import NvisyPostgres

/// Turns a bearer token — a session JWT or an API token — into an ``Identity``, checking its
/// row so that logout, revocation and account deletion take effect at once.
///
/// Session tokens are remembered in ``AuthCache`` (skipping the signature check and two round
/// trips); the cache is cleared by every change to sessions and accounts, see its doc. API tokens
/// always go to the database, which also records their last use.
public struct Authenticator: Sendable {
    let keys: SessionKeys
    let accounts: AccountRepository
    let sessions: SessionRepository
    let apiTokens: APITokenRepository
    let cache: AuthCache?

    public init(keys: SessionKeys, accounts: AccountRepository, sessions: SessionRepository, apiTokens: APITokenRepository,
                cache: AuthCache? = nil) {
        self.keys = keys
        self.accounts = accounts
        self.sessions = sessions
        self.apiTokens = apiTokens
        self.cache = cache
    }

    public func authenticate(bearer token: String) async throws(NvisyError) -> Identity {
        if token.hasPrefix(SecretToken.apiTokenPrefix) {
            guard let record = try await apiTokens.authenticate(secretHash: SecretToken.hash(token)),
                  let account = try await accounts.find(id: record.accountID)
            else { throw NvisyError.unauthorized("the API token is unknown, revoked or expired") }
            return Identity(account: account, credential: .apiToken(record.id))
        }
        let key = cache.map { _ in AuthCache.key(for: token) }
        if let cache, let key, let identity = cache.identity(for: key) { return identity }
        let ticket = cache?.ticket()
        let claims = try await keys.verify(token)
        guard let accountID = UUID(uuidString: claims.sub.value), let sessionID = UUID(uuidString: claims.jti.value) else {
            throw NvisyError.unauthorized("the session token is invalid; log in again")
        }
        guard try await sessions.isActive(id: sessionID, accountID: accountID),
              let account = try await accounts.find(id: accountID)
        else { throw NvisyError.unauthorized("the session has ended (logged out, revoked or expired); log in again") }
        let identity = Identity(account: account, credential: .session(sessionID))
        if let cache, let key { cache.store(identity, for: key, expiresAt: claims.exp.value, ticket: ticket) }
        return identity
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
