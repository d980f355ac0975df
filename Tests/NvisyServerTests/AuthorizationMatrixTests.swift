import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPostgres
import NvisyRuntime
import NvisyWebhook
import PostgresNIO
import Testing

@testable import NvisyServer

/// Every operation of openapi.yaml, run as anonymous, viewer, member, admin, owner and the
/// owner of another workspace, each against a fresh world, with the answer checked against the
/// permission table. A spec operation missing from ``matrix`` fails the test: add it there.
@Suite("API: authorization matrix")
struct AuthorizationMatrixTests {
    enum Actor: String, CaseIterable, Sendable {
        case anonymous, viewer, member, admin, owner, foreignOwner
    }

    /// Who may call an operation.
    enum Rule {
        /// Anyone, signed in or not.
        case anyone
        /// Any signed-in account.
        case signedIn
        /// A member of the workspace whose role grants the permission.
        case workspace(Permission)
    }

    struct Entry {
        var rule: Rule
        var body: (World, Actor) -> Any? = { _, _ in nil }
        /// Which invite `{inviteId}` names.
        var invite: (World, Actor) -> UUID? = { world, _ in world.workspaceInvite }
        /// A query string appended to the path (with its `?`).
        var query: String = ""
        /// Which run `{runId}` names (a queued one by default).
        var run: (World) -> UUID = { $0.run }
    }

    /// One fresh set of accounts, workspaces and resources per case.
    struct World {
        var tokens: [Actor: String] = [:]
        var accounts: [Actor: AccountRecord] = [:]
        var workspace: UUID
        var target: UUID
        var workspaceInvite: UUID
        var addressedInvite: [Actor: UUID] = [:]
        var apiToken: [Actor: UUID] = [:]
        var code: String
        var suffix: String
        /// A connection (filesystem/files) and an uploaded file in W.
        var connection = UUID()
        var file = UUID()
        /// A webhook in W and one failed delivery of it.
        var webhook = UUID()
        var delivery = UUID()
        /// A draft pipeline (files → files) in W, a queued run of it and a completed one.
        var pipeline = UUID()
        var run = UUID()
        var finishedRun = UUID()
        /// local/chat and local/embeddings connections in W and a chat over them.
        var completionConnection = UUID()
        var embeddingConnection = UUID()
        var chat = UUID()
    }

    nonisolated(unsafe) static let matrix: [String: Entry] = [
        "POST /api/v1/auth/signup": Entry(rule: .anyone, body: { w, a in
            ["email": "new-\(a.rawValue)-\(w.suffix)@example.com", "password": "correct horse battery", "displayName": "New"] }),
        "POST /api/v1/auth/login": Entry(rule: .anyone, body: { w, _ in
            ["email": "login-\(w.suffix)@example.com", "password": "correct horse battery"] }),
        "POST /api/v1/auth/logout": Entry(rule: .signedIn),
        "GET /api/v1/account": Entry(rule: .signedIn),
        "PATCH /api/v1/account": Entry(rule: .signedIn, body: { _, _ in ["displayName": "Renamed"] }),
        "DELETE /api/v1/account": Entry(rule: .signedIn),
        "GET /api/v1/account/invites": Entry(rule: .signedIn),
        "POST /api/v1/api-tokens": Entry(rule: .signedIn, body: { _, _ in ["name": "t"] }),
        "GET /api/v1/api-tokens": Entry(rule: .signedIn),
        "DELETE /api/v1/api-tokens/{tokenId}": Entry(rule: .signedIn),
        "POST /api/v1/workspaces": Entry(rule: .signedIn, body: { _, _ in ["name": "Mine"] }),
        "GET /api/v1/workspaces": Entry(rule: .signedIn),
        "GET /api/v1/workspaces/{workspaceId}": Entry(rule: .workspace(.view)),
        "PATCH /api/v1/workspaces/{workspaceId}": Entry(rule: .workspace(.manageWorkspace), body: { _, _ in ["name": "Renamed"] }),
        "DELETE /api/v1/workspaces/{workspaceId}": Entry(rule: .workspace(.deleteWorkspace)),
        "GET /api/v1/workspaces/{workspaceId}/members": Entry(rule: .workspace(.view)),
        "PATCH /api/v1/workspaces/{workspaceId}/members/{accountId}": Entry(rule: .workspace(.changeRoles), body: { _, _ in ["role": "member"] }),
        "DELETE /api/v1/workspaces/{workspaceId}/members/{accountId}": Entry(rule: .workspace(.manageMembers)),
        "POST /api/v1/workspaces/{workspaceId}/leave": Entry(rule: .workspace(.view)),
        "POST /api/v1/workspaces/{workspaceId}/invites": Entry(rule: .workspace(.manageMembers), body: { _, _ in ["role": "viewer"] }),
        "GET /api/v1/workspaces/{workspaceId}/invites": Entry(rule: .workspace(.manageMembers)),
        "GET /api/v1/workspaces/{workspaceId}/activities": Entry(rule: .workspace(.view)),
        "POST /api/v1/invites/accept": Entry(rule: .signedIn, body: { w, _ in ["code": w.code] }),
        "DELETE /api/v1/invites/{inviteId}": Entry(rule: .workspace(.manageMembers)),
        "POST /api/v1/invites/{inviteId}/accept": Entry(rule: .signedIn, invite: { w, a in w.addressedInvite[a] ?? w.workspaceInvite }),
        "POST /api/v1/invites/{inviteId}/decline": Entry(rule: .signedIn, invite: { w, a in w.addressedInvite[a] ?? w.workspaceInvite }),
        "POST /api/v1/workspaces/{workspaceId}/connections": Entry(rule: .workspace(.manageConnections), body: { _, a in
            ["name": "c-\(a.rawValue)", "provider": "filesystem/files", "config": ["root": "/tmp"]] }),
        "GET /api/v1/workspaces/{workspaceId}/connections": Entry(rule: .workspace(.view)),
        "GET /api/v1/connections/{connectionId}": Entry(rule: .workspace(.view)),
        "PATCH /api/v1/connections/{connectionId}": Entry(rule: .workspace(.manageConnections), body: { _, _ in ["name": "renamed"] }),
        "DELETE /api/v1/connections/{connectionId}": Entry(rule: .workspace(.manageConnections)),
        "PUT /api/v1/connections/{connectionId}/credentials": Entry(rule: .workspace(.manageConnections), body: { _, _ in [String: Any]() }),
        "POST /api/v1/connections/{connectionId}/check": Entry(rule: .workspace(.runPipelines)),
        "POST /api/v1/workspaces/{workspaceId}/files": Entry(rule: .workspace(.editContent), body: { _, _ in ["hello": "world"] },
                                                             query: "?name=upload.json"),
        "GET /api/v1/workspaces/{workspaceId}/files": Entry(rule: .workspace(.view)),
        "GET /api/v1/files/{fileId}": Entry(rule: .workspace(.view)),
        "PATCH /api/v1/files/{fileId}": Entry(rule: .workspace(.editContent), body: { _, _ in ["name": "renamed.txt"] }),
        "DELETE /api/v1/files/{fileId}": Entry(rule: .workspace(.editContent)),
        "GET /api/v1/files/{fileId}/content": Entry(rule: .workspace(.view)),
        "POST /api/v1/workspaces/{workspaceId}/webhooks": Entry(rule: .workspace(.manageWebhooks), body: { _, _ in
            ["url": "https://example.com/hook", "eventTypes": ["*"]] }),
        "GET /api/v1/workspaces/{workspaceId}/webhooks": Entry(rule: .workspace(.view)),
        "GET /api/v1/webhooks/{webhookId}": Entry(rule: .workspace(.view)),
        "PATCH /api/v1/webhooks/{webhookId}": Entry(rule: .workspace(.manageWebhooks), body: { _, _ in ["description": "renamed"] }),
        "DELETE /api/v1/webhooks/{webhookId}": Entry(rule: .workspace(.manageWebhooks)),
        "POST /api/v1/webhooks/{webhookId}/test": Entry(rule: .workspace(.manageWebhooks)),
        "POST /api/v1/webhooks/{webhookId}/rotate-secret": Entry(rule: .workspace(.manageWebhooks)),
        "GET /api/v1/webhooks/{webhookId}/deliveries": Entry(rule: .workspace(.view)),
        "POST /api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/retry": Entry(rule: .workspace(.manageWebhooks)),
        "POST /api/v1/workspaces/{workspaceId}/pipelines": Entry(rule: .workspace(.editContent), body: { w, a in
            ["name": "p-\(a.rawValue)", "definition": matrixPipeline(w)] }),
        "GET /api/v1/workspaces/{workspaceId}/pipelines": Entry(rule: .workspace(.view)),
        "GET /api/v1/pipelines/{pipelineId}": Entry(rule: .workspace(.view)),
        "PATCH /api/v1/pipelines/{pipelineId}": Entry(rule: .workspace(.editContent), body: { _, _ in ["description": "changed"] }),
        "DELETE /api/v1/pipelines/{pipelineId}": Entry(rule: .workspace(.editContent)),
        "POST /api/v1/pipelines/{pipelineId}/validate": Entry(rule: .workspace(.view)),
        "POST /api/v1/pipelines/{pipelineId}/runs": Entry(rule: .workspace(.runPipelines)),
        "GET /api/v1/workspaces/{workspaceId}/runs": Entry(rule: .workspace(.view)),
        "GET /api/v1/runs/{runId}": Entry(rule: .workspace(.view)),
        "POST /api/v1/runs/{runId}/cancel": Entry(rule: .workspace(.runPipelines)),
        "GET /api/v1/runs/{runId}/events": Entry(rule: .workspace(.view), run: { $0.finishedRun }),
        "GET /api/v1/runs/{runId}/errors": Entry(rule: .workspace(.view)),
        "POST /api/v1/workspaces/{workspaceId}/chats": Entry(rule: .workspace(.editContent), body: { w, _ in
            ["completionConnectionId": w.completionConnection.text, "embeddingConnectionId": w.embeddingConnection.text] }),
        "GET /api/v1/workspaces/{workspaceId}/chats": Entry(rule: .workspace(.view)),
        "GET /api/v1/chats/{chatId}": Entry(rule: .workspace(.view)),
        "PATCH /api/v1/chats/{chatId}": Entry(rule: .workspace(.editContent), body: { _, _ in ["title": "Renamed"] }),
        "DELETE /api/v1/chats/{chatId}": Entry(rule: .workspace(.editContent)),
        "GET /api/v1/chats/{chatId}/messages": Entry(rule: .workspace(.view)),
        // Anyone who can read the workspace may ask its documents (a real SmolLM2 answer).
        "POST /api/v1/chats/{chatId}/messages": Entry(rule: .workspace(.view), body: { _, _ in ["content": "Say hi."] }),
        "POST /api/v1/files/{fileId}/index": Entry(rule: .workspace(.runPipelines)),
        "GET /api/v1/files/{fileId}/index": Entry(rule: .workspace(.view)),
        "GET /api/v1/workspaces/{workspaceId}/index-settings": Entry(rule: .workspace(.view)),
        "PUT /api/v1/workspaces/{workspaceId}/index-settings": Entry(rule: .workspace(.manageConnections), body: { _, _ in ["indexOnUpload": false] }),
        "POST /api/v1/workspaces/{workspaceId}/search": Entry(rule: .workspace(.view), body: { _, _ in ["query": "hello", "k": 3] }),
    ]

    static func matrixPipeline(_ world: World) -> [String: Any] {
        ["nodes": [["id": "in", "kind": "source", "connection": world.connection.text],
                   ["id": "out", "kind": "sink", "connection": world.connection.text]],
         "edges": [["from": "in", "to": "out"]]]
    }

    /// Every "METHOD /path" of the served spec.
    static func specOperations() throws -> [String] {
        let spec = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocsController.specJSON.get())) as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: [String: Any]])
        var all: [String] = []
        for (path, item) in paths {
            for method in ["get", "put", "post", "patch", "delete"] where item[method] != nil {
                all.append("\(method.uppercased()) \(path)")
            }
        }
        return all.sorted()
    }

    static func expected(_ rule: Rule, _ actor: Actor) -> ClosedRange<Int> {
        switch rule {
        case .anyone: return 200...299
        case .signedIn: return actor == .anonymous ? 401...401 : 200...299
        case .workspace(let permission):
            switch actor {
            case .anonymous: return 401...401
            case .foreignOwner: return 404...404
            default:
                let role = WorkspaceRole(rawValue: actor.rawValue)!
                return role.allows(permission) ? 200...299 : 403...403
            }
        }
    }

    @Test("every spec operation is in the matrix, and answers as the permission table says for every role")
    func matrixCoversAndHolds() async throws {
        let operations = try Self.specOperations()
        for operation in operations {
            #expect(Self.matrix[operation] != nil, "\(operation) is in openapi.yaml but not in the authorization matrix")
        }
        for key in Self.matrix.keys {
            #expect(operations.contains(key), "\(key) is in the matrix but not in openapi.yaml")
        }
        var made = try await ContentFixture.make("api_matrix", nats: true)
        // local/chat and local/embeddings (embedded Python) for the chat routes.
        made.api.plugins = await ChatTest.plugins(logger: made.logger)
        made.api.runService = RunService(plugins: made.api.plugins!, jetStream: made.nats!.connection.jetStream,
                                            checkpoints: PostgresCheckpointStore(client: made.base.database.client, logger: made.logger),
                                            connections: made.api.connections, keyring: made.api.keyring)
        let fixture = made
        let hash = try await fixture.api.hasher.hash("correct horse battery")
        try await fixture.app().test(.router) { client in
            for operation in operations {
                guard let entry = Self.matrix[operation] else { continue }
                let parts = operation.split(separator: " ", maxSplits: 1)
                let method = HTTPRequest.Method(rawValue: String(parts[0]))!
                for actor in Actor.allCases {
                    let world = try await Self.makeWorld(fixture.api, client: fixture.base.database.client, hash: hash)
                    var path = String(parts[1])
                    path = path.replacingOccurrences(of: "{workspaceId}", with: world.workspace.text)
                    path = path.replacingOccurrences(of: "{accountId}", with: world.target.text)
                    path = path.replacingOccurrences(of: "{tokenId}", with: (world.apiToken[actor] ?? UUID()).text)
                    path = path.replacingOccurrences(of: "{inviteId}", with: (entry.invite(world, actor) ?? UUID()).text)
                    path = path.replacingOccurrences(of: "{connectionId}", with: world.connection.text)
                    path = path.replacingOccurrences(of: "{webhookId}", with: world.webhook.text)
                    path = path.replacingOccurrences(of: "{deliveryId}", with: world.delivery.text)
                    path = path.replacingOccurrences(of: "{pipelineId}", with: world.pipeline.text)
                    path = path.replacingOccurrences(of: "{runId}", with: entry.run(world).text)
                    path = path.replacingOccurrences(of: "{chatId}", with: world.chat.text)
                    path = path.replacingOccurrences(of: "{fileId}", with: world.file.text) + entry.query
                    let answer = try await client.call(method, path, token: world.tokens[actor], json: entry.body(world, actor))
                    let want = Self.expected(entry.rule, actor)
                    #expect(want.contains(Int(answer.status.code)),
                            "\(operation) as \(actor.rawValue): got \(answer.status.code) \(answer.body["detail"] ?? ""), want \(want)")
                    if !(200...299).contains(Int(answer.status.code)) {
                        #expect(answer.headers[.contentType] == "application/problem+json", "\(operation) as \(actor.rawValue): error is not problem+json")
                    }
                }
            }
        }
        await fixture.stop()
    }

    /// Owner, a co-owner, admin, member, viewer and a target viewer in workspace W; the foreign
    /// owner (with a co-owner) in F; a code invite into X; invites to each actor's email into X.
    static func makeWorld(_ api: APIDependencies, client: PostgresClient, hash: String) async throws -> World {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        func account(_ name: String) async throws -> AccountRecord {
            try await api.accounts.create(email: "\(name)-\(suffix)@example.com", displayName: name, passwordHash: hash)
        }
        func add(_ account: UUID, _ workspace: UUID, _ role: WorkspaceRole) async throws {
            try await client.query("INSERT INTO workspace_members (workspace_id, account_id, role) VALUES (\(workspace), \(account), \(role.rawValue))")
        }
        var accounts: [Actor: AccountRecord] = [:]
        for actor in Actor.allCases where actor != .anonymous { accounts[actor] = try await account(actor.rawValue) }
        _ = try await account("login")
        let coOwner = try await account("coowner"), target = try await account("target"), other = try await account("other")
        let w = try await api.workspaces.create(name: "W", description: nil, ownerID: accounts[.owner]!.id)
        try await add(coOwner.id, w.id, .owner)
        try await add(accounts[.admin]!.id, w.id, .admin)
        try await add(accounts[.member]!.id, w.id, .member)
        try await add(accounts[.viewer]!.id, w.id, .viewer)
        try await add(target.id, w.id, .viewer)
        let f = try await api.workspaces.create(name: "F", description: nil, ownerID: accounts[.foreignOwner]!.id)
        try await add(coOwner.id, f.id, .owner)
        let x = try await api.workspaces.create(name: "X", description: nil, ownerID: other.id)
        let code = "inv_code_\(suffix)"
        _ = try await api.invites.create(workspaceID: x.id, email: nil, role: .viewer, codeHash: SecretToken.hash(code),
                                         invitedBy: other.id, expiresAt: Date().addingTimeInterval(3600))
        let workspaceInvite = try await api.invites.create(workspaceID: w.id, email: "someone-\(suffix)@example.com", role: .viewer,
                                                           codeHash: SecretToken.hash("inv_w_\(suffix)"), invitedBy: accounts[.owner]!.id,
                                                           expiresAt: Date().addingTimeInterval(3600))
        var world = World(workspace: w.id, target: target.id, workspaceInvite: workspaceInvite.id, code: code, suffix: suffix)
        world.accounts = accounts
        world.connection = UUID.v7()
        _ = try await api.connections.create(id: world.connection, workspaceID: w.id, name: "conn", provider: "filesystem/files",
                                             configJSON: "{\"root\":\"/tmp\"}", sealedCredentials: nil, credentialFields: [], keyID: nil,
                                             createdBy: accounts[.owner]!.id)
        if let store = api.fileStore {
            let upload = FileStore.Upload(workspaceID: w.id, name: "data.txt", declaredType: "text/plain", tags: ["t"],
                                          createdBy: accounts[.owner]!.id, declaredSize: 5)
            world.file = try await store.upload(upload, body: byteStream([ByteBuffer(string: "hello")]), maxBytes: 1 << 20, quota: 0).id
        }
        if let webhooks = api.webhooks {
            let (hook, _) = try await webhooks.create(workspaceID: w.id, url: "https://example.com/hook", description: nil, eventTypes: ["*"],
                                                      headers: [:], createdBy: accounts[.owner]!.id)
            world.webhook = hook.id
            let delivery = try await webhooks.repository.createDelivery(webhookID: hook.id, eventID: UUID.v7(), eventType: "webhook.test", body: "{}")
            try await webhooks.repository.recordAttempt(deliveryID: delivery.id, webhookID: hook.id, workspaceID: w.id, attempt: 1,
                                                        statusCode: 410, latencyMs: 3, error: "HTTP 410", outcome: .failed,
                                                        autoPauseAfterSeconds: 3600)
            world.delivery = delivery.id
        }
        let definition = String(decoding: try JSONSerialization.data(withJSONObject: matrixPipeline(world)), as: UTF8.self)
        world.pipeline = try await api.pipelines.create(workspaceID: w.id, name: "pipe", description: nil, status: "draft", definitionJSON: definition,
                                                        triggersJSON: "{}", nextRunAt: nil, createdBy: accounts[.owner]!.id).id
        world.run = try await api.runs.create(NewRun(workspaceID: w.id, pipelineID: world.pipeline, pipelineName: "pipe",
                                                     definitionJSON: definition, createdBy: accounts[.owner]!.id)).id
        world.finishedRun = try await api.runs.create(NewRun(workspaceID: w.id, pipelineID: world.pipeline, pipelineName: "pipe",
                                                             definitionJSON: definition, createdBy: accounts[.owner]!.id)).id
        try await client.query("UPDATE runs SET status = 'completed', finished_at = now() WHERE id = \(world.finishedRun)")
        world.completionConnection = UUID.v7()
        _ = try await api.connections.create(id: world.completionConnection, workspaceID: w.id, name: "model", provider: "local/chat",
                                             configJSON: "{\"max_tokens\":4,\"temperature\":0}", sealedCredentials: nil, credentialFields: [],
                                             keyID: nil, createdBy: accounts[.owner]!.id)
        world.embeddingConnection = UUID.v7()
        _ = try await api.connections.create(id: world.embeddingConnection, workspaceID: w.id, name: "embed", provider: "local/embeddings",
                                             configJSON: "{}", sealedCredentials: nil, credentialFields: [], keyID: nil, createdBy: accounts[.owner]!.id)
        world.chat = try await api.chats.create(NewChat(workspaceID: w.id, title: "c", completionConnectionID: world.completionConnection,
                                                        embeddingConnectionID: world.embeddingConnection, createdBy: accounts[.owner]!.id)).id
        for (actor, record) in accounts {
            world.tokens[actor] = try await api.authenticator.startSession(for: record.id, lifetime: .seconds(600)).token
            world.addressedInvite[actor] = try await api.invites.create(
                workspaceID: x.id, email: record.email, role: .viewer, codeHash: SecretToken.hash("inv_\(actor.rawValue)_\(suffix)"),
                invitedBy: other.id, expiresAt: Date().addingTimeInterval(3600)).id
            world.apiToken[actor] = try await api.apiTokens.create(accountID: record.id, name: "t", prefix: "nvisy_x",
                                                                   secretHash: SecretToken.hash("nvisy_\(actor.rawValue)_\(suffix)"), expiresAt: nil).id
        }
        return world
    }
}
