import Foundation
import NvisyCore
import NvisyPostgres

/// The one set of authorization checks every route uses.
///
/// - Any signed-in caller: `let me = try context.requireSignedIn()`.
/// - The instance admin: `try context.requireInstanceAdmin()`.
/// - A workspace resource: load it, then `try await context.require(.editContent, in: resource.workspaceID)`.
///   A caller who is not a member gets 404 (the same answer as for a missing resource, so ids leak
///   nothing); a member whose role is too low gets 403.
extension NvisyRequestContext {
    /// The caller's identity, or 401.
    public func requireSignedIn() throws(NvisyError) -> Identity {
        guard let identity else {
            throw NvisyError.unauthorized("sign in first: send Authorization: Bearer <session token or API token>")
        }
        return identity
    }

    /// The caller's identity when it is the instance admin; 401 when anonymous, else 403.
    @discardableResult
    public func requireInstanceAdmin() throws(NvisyError) -> Identity {
        let identity = try requireSignedIn()
        guard identity.isInstanceAdmin else { throw NvisyError.forbidden("only the instance admin may do this") }
        return identity
    }

    /// The caller's role in the workspace when it grants `permission`. 401 anonymous, 404 not a member, 403 too low.
    @discardableResult
    public func require(_ permission: Permission, in workspaceID: UUID) async throws(NvisyError) -> WorkspaceRole {
        try await requireRole(permission.minimumRole, in: workspaceID, doing: permission.rawValue)
    }

    /// The caller's role in the workspace when it is at least `role`. 401 anonymous, 404 not a member, 403 too low.
    @discardableResult
    public func requireRole(_ role: WorkspaceRole, in workspaceID: UUID, doing what: String? = nil) async throws(NvisyError) -> WorkspaceRole {
        let identity = try requireSignedIn()
        guard let roles = workspaceRoles else { throw NvisyError.internal("authorization is not configured") }
        guard let actual = try await roles.role(of: identity.accountID, in: workspaceID) else {
            throw NvisyError.notFound("no workspace \(workspaceID.uuidString.lowercased())")
        }
        guard actual >= role else {
            throw NvisyError.forbidden("your role in this workspace is \(actual.rawValue); \(what.map { "\($0) needs" } ?? "this needs") \(role.rawValue) or above")
        }
        return actual
    }
}
