/// A member's role in a workspace. Each role includes everything the ones before it may do:
/// viewer < member < admin < owner.
public enum WorkspaceRole: String, Sendable, Codable, CaseIterable, Comparable {
    case viewer, member, admin, owner

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .member: 1
        case .admin: 2
        case .owner: 3
        }
    }

    public static func < (lhs: WorkspaceRole, rhs: WorkspaceRole) -> Bool { lhs.rank < rhs.rank }
}
