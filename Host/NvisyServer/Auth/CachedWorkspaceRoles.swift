import Foundation
import NvisyCore
import NvisyPostgres

/// Workspace roles answered from ``AuthCache`` when it has them, else from the database.
public struct CachedWorkspaceRoles: WorkspaceRoleLookup {
    let lookup: any WorkspaceRoleLookup
    let cache: AuthCache

    public init(_ lookup: any WorkspaceRoleLookup, cache: AuthCache) {
        self.lookup = lookup
        self.cache = cache
    }

    public func role(of accountID: UUID, in workspaceID: UUID) async throws(NvisyError) -> WorkspaceRole? {
        if let cached = cache.role(of: accountID, in: workspaceID) { return cached }
        let ticket = cache.ticket()
        let role = try await lookup.role(of: accountID, in: workspaceID)
        cache.store(role: role, of: accountID, in: workspaceID, ticket: ticket)
        return role
    }
}
