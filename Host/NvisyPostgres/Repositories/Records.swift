import Foundation

/// A row of `workspaces`, with the reading account's role when listed for one.
public struct WorkspaceRecord: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var createdAt: Date
    public var updatedAt: Date
}

/// A member of a workspace, joined with the account's name and email.
public struct MemberRecord: Sendable, Equatable {
    public var workspaceID: UUID
    public var accountID: UUID
    public var email: String
    public var displayName: String
    public var role: WorkspaceRole
    public var joinedAt: Date
}

/// A row of `api_tokens` (never the secret).
public struct APITokenRecord: Sendable, Equatable {
    public var id: UUID
    public var accountID: UUID
    public var name: String
    public var prefix: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var lastUsedAt: Date?
}

/// A row of `workspace_invites`, with its workspace's name.
public struct InviteRecord: Sendable, Equatable {
    public enum Status: String, Sendable { case pending, accepted, declined, revoked }

    public var id: UUID
    public var workspaceID: UUID
    public var workspaceName: String
    public var email: String?
    public var role: WorkspaceRole
    public var invitedBy: UUID?
    public var createdAt: Date
    public var expiresAt: Date
    public var status: Status
}

/// A row of `workspace_activities`.
public struct ActivityRecord: Sendable, Equatable {
    public var id: UUID
    public var workspaceID: UUID
    public var actorID: UUID?
    public var action: String
    public var targetType: String?
    public var targetID: UUID?
    /// A JSON object, as text.
    public var detailsJSON: String
    public var createdAt: Date
}
