import NvisyPostgres

/// What a caller may do in a workspace. The permission table — the least role each permission
/// needs — is ``minimumRole`` and nowhere else: routes ask for a permission, never for a role.
public enum Permission: String, Sendable, CaseIterable {
    /// See the workspace and everything in it.
    case view
    /// Create and change content: pipelines, files, chats.
    case editContent
    /// Start and cancel pipeline runs.
    case runPipelines
    /// Create, change and delete connections (and their credentials).
    case manageConnections
    /// Create, change and delete webhooks.
    case manageWebhooks
    /// Invite and remove members, withdraw invites.
    case manageMembers
    /// Rename and describe the workspace.
    case manageWorkspace
    /// Change members' roles.
    case changeRoles
    /// Delete the workspace and everything in it.
    case deleteWorkspace

    /// The permission table.
    public var minimumRole: WorkspaceRole {
        switch self {
        case .view: .viewer
        case .editContent, .runPipelines: .member
        case .manageConnections, .manageWebhooks, .manageMembers, .manageWorkspace: .admin
        case .changeRoles, .deleteWorkspace: .owner
        }
    }
}

extension WorkspaceRole {
    /// Whether this role grants `permission`.
    public func allows(_ permission: Permission) -> Bool { self >= permission.minimumRole }
}
