import Foundation
import NvisyPostgres

/// Who a request acts for: the account, and the credential that proved it.
public struct Identity: Sendable {
    /// The credential of the request.
    public enum Credential: Sendable, Equatable {
        /// A session JWT; the id is its `jti` (the session row).
        case session(UUID)
        /// An API token; the id is its row.
        case apiToken(UUID)
    }

    public var account: AccountRecord
    public var credential: Credential

    public var accountID: UUID { account.id }
    /// Whether the account administers the whole instance (the first account created).
    public var isInstanceAdmin: Bool { account.isInstanceAdmin }
}
