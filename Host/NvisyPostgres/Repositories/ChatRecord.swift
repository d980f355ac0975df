import Foundation
import NvisyCore

/// A row of `chats`: which connections answer and retrieve, the retrieval scope, the system prompt.
public struct ChatRecord: Sendable, Equatable {
    public var id: UUID
    public var workspaceID: UUID
    public var title: String
    /// The completion connection that answers (nil once that connection was deleted).
    public var completionConnectionID: UUID?
    /// The embedding connection whose chunks are retrieved (nil once that connection was deleted).
    public var embeddingConnectionID: UUID?
    /// Retrieval only from these files; empty: every file of the workspace.
    public var fileIDs: [UUID]
    /// Retrieval only from chunks with one of these tags; empty: any.
    public var tags: [String]
    public var systemPrompt: String?
    /// How many chunks each answer is given (0: no retrieval).
    public var topK: Int
    public var createdBy: UUID?
    public var createdAt: Date
    public var updatedAt: Date
}

/// What a new chat is made of (``ChatRepository/create(_:)``).
public struct NewChat: Sendable {
    public var workspaceID: UUID
    public var title: String
    public var completionConnectionID: UUID
    public var embeddingConnectionID: UUID
    public var fileIDs: [UUID]
    public var tags: [String]
    public var systemPrompt: String?
    public var topK: Int
    public var createdBy: UUID?

    public init(workspaceID: UUID, title: String, completionConnectionID: UUID, embeddingConnectionID: UUID, fileIDs: [UUID] = [],
                tags: [String] = [], systemPrompt: String? = nil, topK: Int = 5, createdBy: UUID?) {
        self.workspaceID = workspaceID
        self.title = title
        self.completionConnectionID = completionConnectionID
        self.embeddingConnectionID = embeddingConnectionID
        self.fileIDs = fileIDs
        self.tags = tags
        self.systemPrompt = systemPrompt
        self.topK = topK
        self.createdBy = createdBy
    }
}

/// A change to a chat: nil leaves a field as it is.
public struct ChatChange: Sendable {
    public var title: String?
    public var completionConnectionID: UUID?
    public var embeddingConnectionID: UUID?
    public var fileIDs: [UUID]?
    public var tags: [String]?
    /// `.some(nil)` clears the system prompt.
    public var systemPrompt: String??
    public var topK: Int?

    public init(title: String? = nil, completionConnectionID: UUID? = nil, embeddingConnectionID: UUID? = nil, fileIDs: [UUID]? = nil,
                tags: [String]? = nil, systemPrompt: String?? = nil, topK: Int? = nil) {
        self.title = title
        self.completionConnectionID = completionConnectionID
        self.embeddingConnectionID = embeddingConnectionID
        self.fileIDs = fileIDs
        self.tags = tags
        self.systemPrompt = systemPrompt
        self.topK = topK
    }
}

/// A row of `chat_messages`.
public struct ChatMessageRecord: Sendable, Equatable {
    public var id: UUID
    public var chatID: UUID
    /// `user` or `assistant`.
    public var role: String
    public var content: String
    /// JSON array of the citations the answer was given (`[]` for user messages).
    public var citationsJSON: String
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Why the model stopped (`stop`, `length`, `cancelled` …); nil for user messages.
    public var finishReason: String?
    public var createdBy: UUID?
    public var createdAt: Date

    public init(id: UUID = UUID.v7(), chatID: UUID, role: String, content: String, citationsJSON: String = "[]", promptTokens: Int? = nil,
                completionTokens: Int? = nil, finishReason: String? = nil, createdBy: UUID? = nil, createdAt: Date = Date()) {
        self.id = id
        self.chatID = chatID
        self.role = role
        self.content = content
        self.citationsJSON = citationsJSON
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.finishReason = finishReason
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}
