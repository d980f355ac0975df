import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime
import Synchronization

/// One answer, ready to be generated: the chat, the question, the prompt and the model.
public struct PreparedAnswer: Sendable {
    public var chat: ChatRecord
    public var question: String
    public var prompt: ChatPrompt
    public var completion: ResolvedConnection
    /// The most tokens the answer may take.
    public var maxTokens: Int
}

/// An answer that was generated (whole, or cut short by its client) and stored.
public struct ChatAnswer: Sendable {
    public var question: ChatMessageRecord
    public var answer: ChatMessageRecord
    /// Whether the usage figures are estimates (the provider did not report them).
    public var usageEstimated: Bool
}

/// Answers chat messages: retrieves context for the question, fits history and sources into the
/// completion model's budget, runs the model (streaming its tokens to the caller) and stores
/// the question and the answer with its citations and token usage.
public struct ChatService: Sendable {
    let chats: ChatRepository
    let connections: ConnectionRepository
    let keyring: CredentialKeyring?
    let plugins: PluginHost
    let retriever: any ChatContextRetriever
    let logger: Logger
    /// How many earlier messages are read as history (the budget may keep fewer).
    var historyLimit = 20

    public init(chats: ChatRepository, connections: ConnectionRepository, keyring: CredentialKeyring?, plugins: PluginHost,
                retriever: any ChatContextRetriever, logger: Logger) {
        self.chats = chats
        self.connections = connections
        self.keyring = keyring
        self.plugins = plugins
        self.retriever = retriever
        self.logger = logger
    }

    /// The model's window when its connection does not say (`context_tokens` / `contextTokens`).
    public static let defaultContextTokens = 2048
    /// Room kept for the answer when its connection does not say (`max_tokens` / `maxTokens`).
    public static let defaultMaxTokens = 256

    /// Checks that connection `id` is in `workspaceID` and serves `kind`; else 422 at `pointer`.
    public func checkConnection(_ id: UUID?, kind: ProviderKind, in workspaceID: UUID, pointer: String) async throws(NvisyError) -> ResolvedConnection {
        let what = kind == .completion ? "completion" : "embedding"
        guard let id else {
            throw NvisyError.unprocessable("the chat has no \(what) connection (it was deleted); set another one", pointer: pointer)
        }
        let resolver = WorkspaceConnectionResolver(workspaceID: workspaceID, connections: connections, keyring: keyring)
        let resolved: ResolvedConnection?
        do { resolved = try await resolver.resolve(id.uuidString.lowercased()) } catch {
            throw (error as? NvisyError) ?? NvisyError.internal("cannot read connection \(id.uuidString.lowercased()): \(error)")
        }
        guard let resolved else {
            throw NvisyError.unprocessable("there is no connection \(id.uuidString.lowercased()) in this workspace", pointer: pointer)
        }
        let descriptor: ProviderDescriptor
        do { descriptor = try await plugins.provider(resolved.provider) } catch {
            throw NvisyError.unprocessable("connection \(id.uuidString.lowercased()) uses \(resolved.provider), which is not loaded", pointer: pointer)
        }
        guard descriptor.kinds.contains(kind) else {
            throw NvisyError.unprocessable("connection \(id.uuidString.lowercased()) uses \(resolved.provider), which is not a \(what) provider",
                                           pointer: pointer)
        }
        return resolved
    }

    /// Everything before the model runs: connections, history, retrieval, the prompt.
    public func prepare(_ chat: ChatRecord, question: String) async throws(NvisyError) -> PreparedAnswer {
        let completion = try await checkConnection(chat.completionConnectionID, kind: .completion, in: chat.workspaceID,
                                                   pointer: "/completionConnectionId")
        let embedding = try await checkConnection(chat.embeddingConnectionID, kind: .embedding, in: chat.workspaceID,
                                                  pointer: "/embeddingConnectionId")
        let history = try await chats.recentMessages(chatID: chat.id, limit: historyLimit).filter { $0.finishReason != "cancelled" || $0.role == "user" }
        var sources: [ChatSource] = []
        if chat.topK > 0 {
            let query = ChatPrompt.retrievalQuery(question: question, history: history)
            let vector = try await embed(query, with: embedding)
            sources = try await retriever.retrieve(workspace: chat.workspaceID, query: query,
                                                   model: Self.modelName(of: embedding),
                                                   vector: vector, k: chat.topK, fileIDs: chat.fileIDs, tags: chat.tags)
        }
        let context = Self.int(completion.config, "context_tokens", "contextTokens") ?? Self.defaultContextTokens
        let maxTokens = Self.int(completion.config, "max_tokens", "maxTokens") ?? Self.defaultMaxTokens
        let prompt = try ChatPrompt.build(systemPrompt: chat.systemPrompt, history: history, sources: sources, question: question,
                                          budget: max(0, context - maxTokens))
        return PreparedAnswer(chat: chat, question: question, prompt: prompt, completion: completion, maxTokens: maxTokens)
    }

    /// Runs the model, calling `onToken` with each token as it arrives, and stores the question
    /// and the answer. Cancelling the calling task cancels the model call; the partial answer is
    /// then stored with finish reason `cancelled`, and `CancellationError` is thrown.
    public func answer(_ prepared: PreparedAnswer, by accountID: UUID?,
                       onToken: @escaping @Sendable (String) -> Void) async throws -> ChatAnswer {
        let tokens = Mutex<[String]>([])
        let asked = Date()
        var response: JSONValue?
        var failure: (any Error)?
        do {
            let model = try await plugins.makeCompletion(prepared.completion.provider, config: prepared.completion.config,
                                                         credentials: prepared.completion.credentials)
            do {
                response = try await model.complete(["messages": .array(prepared.prompt.messages), "maxTokens": .number(Double(prepared.maxTokens))]) { token in
                    tokens.withLock { $0.append(token) }
                    onToken(token)
                }
            } catch { failure = error }
            await model.close()
        } catch { failure = error }
        let cancelled = Task.isCancelled
        if let failure, !cancelled { throw failure }
        let streamed = tokens.withLock { $0 }
        let content = response?["content"]?.stringValue ?? streamed.joined()
        let usage = response?["usage"]
        let promptTokens = usage?["promptTokens"]?.doubleValue.map(Int.init)
        let completionTokens = usage?["completionTokens"]?.doubleValue.map(Int.init)
        // Ids are v7 (millisecond + random bits): the answer's is from a later millisecond than
        // the question's, so id order is always question, answer.
        let answered = max(Date(), asked.addingTimeInterval(0.002))
        let question = ChatMessageRecord(id: UUID.v7(now: asked), chatID: prepared.chat.id, role: "user", content: prepared.question,
                                         createdBy: accountID, createdAt: asked)
        let answer = ChatMessageRecord(
            id: UUID.v7(now: answered), chatID: prepared.chat.id, role: "assistant", content: content,
            citationsJSON: Self.citationsJSON(prepared.prompt.sources, answer: content),
            promptTokens: promptTokens ?? prepared.prompt.estimatedTokens, completionTokens: completionTokens ?? streamed.count,
            finishReason: cancelled ? "cancelled" : (response?["finishReason"]?.stringValue ?? "stop"), createdBy: nil, createdAt: answered)
        // Stored from a task of its own: a cancelled caller must still record what was said.
        let chats = self.chats
        try await Task { try await chats.append([question, answer]) }.value
        if cancelled {
            logger.info("chat answer cancelled by its client", metadata: ["chat": "\(prepared.chat.id)", "tokens": "\(streamed.count)"])
            throw CancellationError()
        }
        return ChatAnswer(question: question, answer: answer, usageEstimated: promptTokens == nil || completionTokens == nil)
    }

    func embed(_ text: String, with connection: ResolvedConnection) async throws(NvisyError) -> [Float] {
        do {
            let model = try await plugins.makeEmbedding(connection.provider, config: connection.config, credentials: connection.credentials)
            defer { Task { await model.close() } }
            guard let vector = try await model.embed([text]).first else {
                throw NvisyError.unavailable("the embedding provider \(connection.provider) returned no vector")
            }
            return vector
        } catch let error as NvisyError {
            throw error
        } catch {
            throw NvisyError.unavailable("embedding the question failed: \(error)")
        }
    }

    /// The sources as stored citations: `[{index, chunkId, fileId, fileName, page?, section?, score, cited}]`.
    static func citationsJSON(_ sources: [ChatSource], answer: String) -> String {
        let cited = Set(ChatPrompt.citedNumbers(in: answer))
        let items: [JSONValue] = sources.enumerated().map { i, s in
            var o: [String: JSONValue] = [
                "index": .number(Double(i + 1)), "chunkId": .string(s.chunkID.uuidString.lowercased()),
                "fileId": .string(s.fileID.uuidString.lowercased()), "fileName": .string(s.fileName),
                "score": .number(s.score.isFinite ? s.score : 0), "cited": .bool(cited.contains(i + 1)),
            ]
            if let page = s.page { o["page"] = .number(Double(page)) }
            if let section = s.section { o["section"] = .string(s.section.map { _ in section } ?? "") }
            return .object(o)
        }
        return JSONValue.array(items).compactJSON
    }

    /// The name chunks embedded through a connection are filed under in `embedding_models`, as
    /// indexing derives it: `<plugin/provider>:<config.model or "default">`, e.g.
    /// `local/embeddings:default` or `openai/embeddings:text-embedding-3-small`.
    public static func modelName(of connection: ResolvedConnection) -> String {
        let model = connection.config["model"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        return "\(connection.provider):\(model)"
    }

    static func int(_ config: JSONValue, _ keys: String...) -> Int? {
        for key in keys { if let v = config[key]?.doubleValue, v >= 1 { return Int(v) } }
        return nil
    }
}

extension JSONValue {
    /// Compact JSON text (sorted keys).
    var compactJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
