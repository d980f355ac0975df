import Foundation
import NvisyCore
import NvisyPostgres
import OpenAPIRuntime

/// Implements the operations of openapi.yaml (the generated `APIProtocol`), one extension per
/// tag in `APIHandler+<Tag>.swift`. Every operation starts with an authorization check from
/// `NvisyRequestContext+Auth.swift`.
struct APIHandler: APIProtocol {
    let deps: APIDependencies
    let loginLimitPerIP: RateLimiter
    let loginLimitPerAccount: RateLimiter

    init(deps: APIDependencies) {
        self.deps = deps
        loginLimitPerIP = RateLimiter(limit: deps.settings.authAttemptsPerIP, window: .seconds(60), counters: deps.rateLimits)
        loginLimitPerAccount = RateLimiter(limit: deps.settings.authAttemptsPerAccount, window: .seconds(60), counters: deps.rateLimits)
    }

    /// Compact JSON with sorted keys: the runtime's default also pretty-prints, which made every
    /// answer larger and its encoding slower for no client's benefit.
    static let wireConfiguration = Configuration(jsonEncodingOptions: [.sortedKeys])

    var context: NvisyRequestContext {
        get throws(NvisyError) { try APIRequest.current() }
    }

    /// Records an activity; a failure to record is logged, never fails the request that did the work.
    func record(_ workspaceID: UUID, _ actor: Identity, _ action: String, targetType: String? = nil, targetID: UUID? = nil,
                details: [String: String] = [:]) async {
        let json = (try? JSONSerialization.data(withJSONObject: details, options: [.sortedKeys])).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        do {
            try await deps.activities.record(workspaceID: workspaceID, actorID: actor.accountID, action: action,
                                             targetType: targetType, targetID: targetID, detailsJSON: json)
        } catch {
            APIRequest.context?.logger.warning("cannot record activity", metadata: ["action": .string(action), "error": .string(error.message)])
        }
    }
}

// MARK: Mapping records to the spec's schemas

extension UUID {
    var text: String { uuidString.lowercased() }
}

extension Components.Schemas.Account {
    init(_ record: AccountRecord) {
        self.init(id: record.id.text, email: record.email, displayName: record.displayName,
                  isInstanceAdmin: record.isInstanceAdmin, createdAt: record.createdAt)
    }
}

extension Components.Schemas.Role {
    init(_ role: WorkspaceRole) { self = Self(rawValue: role.rawValue)! }
    var workspaceRole: WorkspaceRole { WorkspaceRole(rawValue: rawValue)! }
}

extension Components.Schemas.Workspace {
    init(_ record: WorkspaceRecord, role: WorkspaceRole) {
        self.init(id: record.id.text, name: record.name, description: record.description, role: .init(role),
                  createdAt: record.createdAt, updatedAt: record.updatedAt)
    }
}

extension Components.Schemas.Member {
    init(_ record: MemberRecord) {
        self.init(workspaceId: record.workspaceID.text, accountId: record.accountID.text, email: record.email,
                  displayName: record.displayName, role: .init(record.role), joinedAt: record.joinedAt)
    }
}

extension Components.Schemas.ApiToken {
    init(_ record: APITokenRecord) {
        self.init(id: record.id.text, name: record.name, prefix: record.prefix, createdAt: record.createdAt,
                  expiresAt: record.expiresAt, lastUsedAt: record.lastUsedAt)
    }
}

extension Components.Schemas.Invite {
    init(_ record: InviteRecord) {
        self.init(id: record.id.text, workspaceId: record.workspaceID.text, workspaceName: record.workspaceName, email: record.email,
                  role: .init(record.role), invitedBy: record.invitedBy?.text, expiresAt: record.expiresAt, createdAt: record.createdAt)
    }
}

extension Components.Schemas.Activity {
    init(_ record: ActivityRecord) {
        let details = try? JSONDecoder().decode(DetailsPayload.self, from: Data(record.detailsJSON.utf8))
        self.init(id: record.id.text, workspaceId: record.workspaceID.text, actorId: record.actorID?.text, action: record.action,
                  targetType: record.targetType, targetId: record.targetID?.text, details: details, createdAt: record.createdAt)
    }
}
