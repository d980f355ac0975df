import Foundation

/// A row of `accounts`.
public struct AccountRecord: Sendable, Equatable {
    public var id: UUID
    public var email: String
    public var displayName: String
    public var passwordHash: String
    public var isInstanceAdmin: Bool
    public var createdAt: Date

    public init(id: UUID, email: String, displayName: String, passwordHash: String, isInstanceAdmin: Bool, createdAt: Date) {
        self.id = id
        self.email = email
        self.displayName = displayName
        self.passwordHash = passwordHash
        self.isInstanceAdmin = isInstanceAdmin
        self.createdAt = createdAt
    }

    /// The unique login key of an email: trimmed and lower-cased.
    public static func emailKey(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }
}
