import Foundation
import NvisyCore
import NvisyPostgres

/// Workspaces, members and the activity log.
extension APIHandler {
    func createWorkspace(_ input: Operations.CreateWorkspace.Input) async throws -> Operations.CreateWorkspace.Output {
        let me = try context.requireSignedIn()
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.name, at: "/name", max: 100) ?? ""
        let description = check.text(body.description, at: "/description", min: 0, max: 1000)
        try check.check()
        let workspace = try await deps.workspaces.create(name: name, description: description, ownerID: me.accountID)
        await record(workspace.id, me, "workspace.created", targetType: "workspace", targetID: workspace.id, details: ["name": name])
        return .created(.init(body: .json(.init(workspace, role: .owner))))
    }

    func listWorkspaces(_ input: Operations.ListWorkspaces.Input) async throws -> Operations.ListWorkspaces.Output {
        let me = try context.requireSignedIn()
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.workspaces.list(for: me.accountID, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map { .init($0.0, role: $0.1) }, nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func getWorkspace(_ input: Operations.GetWorkspace.Input) async throws -> Operations.GetWorkspace.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        let role = try await context.require(.view, in: id)
        guard let workspace = try await deps.workspace(id: id) else { throw NvisyError.notFound("no workspace \(id.text)") }
        return .ok(.init(body: .json(.init(workspace, role: role))))
    }

    func updateWorkspace(_ input: Operations.UpdateWorkspace.Input) async throws -> Operations.UpdateWorkspace.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        let context = try context
        let role = try await context.require(.manageWorkspace, in: id)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.name, at: "/name", max: 100)
        let description = check.text(body.description, at: "/description", min: 0, max: 1000)
        try check.check()
        guard let workspace = try await deps.workspaces.update(id: id, name: name, description: description) else {
            throw NvisyError.notFound("no workspace \(id.text)")
        }
        var details: [String: String] = [:]
        if let name { details["name"] = name }
        if description != nil { details["description"] = "changed" }
        await record(id, try context.requireSignedIn(), "workspace.updated", targetType: "workspace", targetID: id, details: details)
        return .ok(.init(body: .json(.init(workspace, role: role))))
    }

    func deleteWorkspace(_ input: Operations.DeleteWorkspace.Input) async throws -> Operations.DeleteWorkspace.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.deleteWorkspace, in: id)
        try await deps.workspaces.delete(id: id)
        return .noContent(.init())
    }

    func listMembers(_ input: Operations.ListMembers.Input) async throws -> Operations.ListMembers.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: id)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.workspaces.members(of: id, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.Member.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func updateMember(_ input: Operations.UpdateMember.Input) async throws -> Operations.UpdateMember.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        let accountID = try pathID(input.path.accountId, "accountId")
        let context = try context
        try await context.require(.changeRoles, in: id)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        guard let member = try await deps.workspaces.setRole(body.role.workspaceRole, of: accountID, in: id) else {
            throw NvisyError.notFound("no member \(accountID.text) in this workspace")
        }
        await record(id, try context.requireSignedIn(), "member.role_changed", targetType: "account", targetID: accountID,
                     details: ["role": body.role.rawValue])
        return .ok(.init(body: .json(.init(member))))
    }

    func removeMember(_ input: Operations.RemoveMember.Input) async throws -> Operations.RemoveMember.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        let accountID = try pathID(input.path.accountId, "accountId")
        let context = try context
        let me = try context.requireSignedIn()
        let myRole = try await context.require(.manageMembers, in: id)
        guard let target = try await deps.workspaces.member(accountID, of: id) else {
            throw NvisyError.notFound("no member \(accountID.text) in this workspace")
        }
        if target.role >= .admin && myRole < .owner && target.accountID != me.accountID {
            throw NvisyError.forbidden("only an owner may remove an \(target.role.rawValue)")
        }
        guard try await deps.workspaces.removeMember(accountID, from: id) else { throw NvisyError.notFound("no member \(accountID.text) in this workspace") }
        await record(id, me, "member.removed", targetType: "account", targetID: accountID, details: ["email": target.email])
        return .noContent(.init())
    }

    func leaveWorkspace(_ input: Operations.LeaveWorkspace.Input) async throws -> Operations.LeaveWorkspace.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        let context = try context
        let me = try context.requireSignedIn()
        try await context.require(.view, in: id)
        guard try await deps.workspaces.removeMember(me.accountID, from: id) else { throw NvisyError.notFound("no workspace \(id.text)") }
        await record(id, me, "member.left", targetType: "account", targetID: me.accountID)
        return .noContent(.init())
    }

    func listActivities(_ input: Operations.ListActivities.Input) async throws -> Operations.ListActivities.Output {
        let id = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: id)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.activities.list(workspaceID: id, before: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.Activity.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }
}
