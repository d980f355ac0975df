import Foundation
import NvisyCore
import NvisyPostgres

/// Answers an account's role in a workspace (nil: not a member, or no such workspace).
public protocol WorkspaceRoleLookup: Sendable {
    func role(of accountID: UUID, in workspaceID: UUID) async throws(NvisyError) -> WorkspaceRole?
}

extension WorkspaceRepository: WorkspaceRoleLookup {}
