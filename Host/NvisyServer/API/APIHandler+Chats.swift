import Foundation
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import OpenAPIRuntime

/// Chats. Who may do what: anyone who can read the workspace (viewer) reads chats and their
/// messages and asks questions — asking only reads documents the viewer can already read;
/// creating, changing and deleting chats is content editing (member). Posting a message is
/// served by ``ChatMessagesController`` (it may stream).
extension APIHandler {
    func createChat(_ input: Operations.CreateChat.Input) async throws -> Operations.CreateChat.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        let context = try context
        let me = try context.requireSignedIn()
        try await context.require(.editContent, in: workspaceID)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let title = check.text(body.title, at: "/title", min: 0, max: 200)
        let completion = Self.uuid(body.completionConnectionId, "/completionConnectionId", &check)
        let embedding = Self.uuid(body.embeddingConnectionId, "/embeddingConnectionId", &check)
        let scope = Self.scope(fileIds: body.fileIds, tags: body.tags, &check)
        let prompt = check.text(body.systemPrompt, at: "/systemPrompt", min: 0, max: 4000)
        let topK = body.topK ?? 5
        if !(0...50).contains(topK) { check.fail("/topK", "must be between 0 and 50") }
        try check.check()
        let service = try chatService()
        _ = try await service.checkConnection(completion, kind: .completion, in: workspaceID, pointer: "/completionConnectionId")
        _ = try await service.checkConnection(embedding, kind: .embedding, in: workspaceID, pointer: "/embeddingConnectionId")
        let chat = try await deps.chats.create(NewChat(
            workspaceID: workspaceID, title: (title?.isEmpty ?? true) ? "New chat" : title!, completionConnectionID: completion!,
            embeddingConnectionID: embedding!, fileIDs: scope.files ?? [], tags: scope.tags ?? [],
            systemPrompt: (prompt?.isEmpty ?? true) ? nil : prompt, topK: topK, createdBy: me.accountID))
        await record(workspaceID, me, "chat.created", targetType: "chat", targetID: chat.id, details: ["title": chat.title])
        return .created(.init(body: .json(.init(chat))))
    }

    func listChats(_ input: Operations.ListChats.Input) async throws -> Operations.ListChats.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: workspaceID)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.chats.list(workspaceID: workspaceID, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.Chat.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func getChat(_ input: Operations.GetChat.Input) async throws -> Operations.GetChat.Output {
        .ok(.init(body: .json(.init(try await loadChat(input.path.chatId, .view)))))
    }

    func updateChat(_ input: Operations.UpdateChat.Input) async throws -> Operations.UpdateChat.Output {
        let chat = try await loadChat(input.path.chatId, .editContent)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let title = check.text(body.title, at: "/title", max: 200)
        let completion = Self.uuid(body.completionConnectionId, "/completionConnectionId", &check)
        let embedding = Self.uuid(body.embeddingConnectionId, "/embeddingConnectionId", &check)
        let scope = Self.scope(fileIds: body.fileIds, tags: body.tags, &check)
        let prompt = check.text(body.systemPrompt, at: "/systemPrompt", min: 0, max: 4000)
        if let k = body.topK, !(0...50).contains(k) { check.fail("/topK", "must be between 0 and 50") }
        try check.check()
        if completion != nil || embedding != nil {
            let service = try chatService()
            if let completion { _ = try await service.checkConnection(completion, kind: .completion, in: chat.workspaceID, pointer: "/completionConnectionId") }
            if let embedding { _ = try await service.checkConnection(embedding, kind: .embedding, in: chat.workspaceID, pointer: "/embeddingConnectionId") }
        }
        let change = ChatChange(title: title, completionConnectionID: completion, embeddingConnectionID: embedding, fileIDs: scope.files,
                                tags: scope.tags, systemPrompt: prompt.map { $0.isEmpty ? nil : $0 }, topK: body.topK)
        guard let saved = try await deps.chats.update(id: chat.id, change) else { throw NvisyError.notFound("no chat \(chat.id.text)") }
        return .ok(.init(body: .json(.init(saved))))
    }

    func deleteChat(_ input: Operations.DeleteChat.Input) async throws -> Operations.DeleteChat.Output {
        let chat = try await loadChat(input.path.chatId, .editContent)
        guard try await deps.chats.delete(id: chat.id) else { throw NvisyError.notFound("no chat \(chat.id.text)") }
        await record(chat.workspaceID, try context.requireSignedIn(), "chat.deleted", targetType: "chat", targetID: chat.id, details: ["title": chat.title])
        return .noContent(.init())
    }

    func listChatMessages(_ input: Operations.ListChatMessages.Input) async throws -> Operations.ListChatMessages.Output {
        let chat = try await loadChat(input.path.chatId, .view)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.chats.messages(chatID: chat.id, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map { Components.Schemas.ChatMessage($0) },
                                           nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func postChatMessage(_ input: Operations.PostChatMessage.Input) async throws -> Operations.PostChatMessage.Output {
        throw NvisyError.internal("chat messages are served by ChatMessagesController")
    }

    /// Loads a chat by id and checks `permission` in its workspace (404 for non-members).
    func loadChat(_ text: String, _ permission: Permission) async throws -> ChatRecord {
        let id = try pathID(text, "chatId")
        let context = try context
        _ = try context.requireSignedIn()
        guard let chat = try await deps.chats.find(id: id) else { throw NvisyError.notFound("no chat \(id.text)") }
        try await context.require(permission, in: chat.workspaceID)
        return chat
    }

    func chatService() throws(NvisyError) -> ChatService {
        guard let service = deps.chatService else { throw NvisyError.unavailable("chats need providers, and this host has no plugins loaded") }
        return service
    }

    static func uuid(_ text: String?, _ pointer: String, _ check: inout Validation) -> UUID? {
        guard let text else { return nil }
        guard let id = UUID(uuidString: text) else { check.fail(pointer, "must be a UUID"); return nil }
        return id
    }

    static func scope(fileIds: [String]?, tags: [String]?, _ check: inout Validation) -> (files: [UUID]?, tags: [String]?) {
        var files: [UUID]?
        if let fileIds {
            if fileIds.count > 100 { check.fail("/fileIds", "must have at most 100 items") }
            files = fileIds.enumerated().compactMap { i, t in uuid(t, "/fileIds/\(i)", &check) }
        }
        var cleaned: [String]?
        if let tags {
            if tags.count > 50 { check.fail("/tags", "must have at most 50 items") }
            cleaned = tags.enumerated().compactMap { i, t in check.text(t, at: "/tags/\(i)", max: 100) }
        }
        return (files.map { Array(Set($0)).sorted { $0.uuidString < $1.uuidString } }, cleaned.map { Array(Set($0)).sorted() })
    }
}

extension Components.Schemas.Chat {
    init(_ r: ChatRecord) {
        self.init(id: r.id.text, workspaceId: r.workspaceID.text, title: r.title, completionConnectionId: r.completionConnectionID?.text,
                  embeddingConnectionId: r.embeddingConnectionID?.text, fileIds: r.fileIDs.map(\.text), tags: r.tags,
                  systemPrompt: r.systemPrompt, topK: r.topK, createdAt: r.createdAt, updatedAt: r.updatedAt)
    }
}

extension Components.Schemas.ChatMessage {
    init(_ r: ChatMessageRecord, usageEstimated: Bool? = nil) {
        let citations = (try? JSONDecoder().decode([Components.Schemas.ChatCitation].self, from: Data(r.citationsJSON.utf8))) ?? []
        var usage: Components.Schemas.ChatUsage?
        if r.role == "assistant" {
            usage = .init(promptTokens: r.promptTokens, completionTokens: r.completionTokens,
                          totalTokens: r.promptTokens.flatMap { p in r.completionTokens.map { p + $0 } }, estimated: usageEstimated)
        }
        self.init(id: r.id.text, chatId: r.chatID.text, role: r.role == "user" ? .user : .assistant, content: r.content,
                  citations: citations, usage: usage, finishReason: r.finishReason, createdAt: r.createdAt)
    }
}
