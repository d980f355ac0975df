import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// Chats and their messages.
public struct ChatRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let columns = """
        id, workspace_id, title, completion_connection_id, embedding_connection_id, file_ids, tags, system_prompt, top_k,
        created_by, created_at, updated_at
        """
    static let messageColumns = """
        id, chat_id, role, content, citations::text, prompt_tokens, completion_tokens, finish_reason, created_by, created_at
        """

    public func create(_ chat: NewChat) async throws(NvisyError) -> ChatRecord {
        do {
            let rows = try await client.query("""
                INSERT INTO chats (id, workspace_id, title, completion_connection_id, embedding_connection_id, file_ids, tags,
                                   system_prompt, top_k, created_by)
                VALUES (\(UUID.v7()), \(chat.workspaceID), \(chat.title), \(chat.completionConnectionID), \(chat.embeddingConnectionID),
                        \(chat.fileIDs), \(chat.tags), \(chat.systemPrompt), \(chat.topK), \(chat.createdBy))
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first!
        } catch { throw PostgresErrors.wrap(error, "create chat") }
    }

    public func find(id: UUID) async throws(NvisyError) -> ChatRecord? {
        do {
            let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM chats WHERE id = \(id)", logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "find chat") }
    }

    /// The chats of a workspace, oldest first (keyset on the v7 id).
    public func list(workspaceID: UUID, after: UUID?, limit: Int) async throws(NvisyError) -> Page<ChatRecord> {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM chats
                WHERE workspace_id = \(workspaceID) AND (\(after)::uuid IS NULL OR id > \(after))
                ORDER BY id LIMIT \(limit + 1)
                """, logger: logger)
            return Page(fetched: try await Self.records(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list chats") }
    }

    public func update(id: UUID, _ change: ChatChange) async throws(NvisyError) -> ChatRecord? {
        let clearPrompt = change.systemPrompt.map { $0 == nil } ?? false
        let prompt: String? = change.systemPrompt ?? nil
        do {
            let rows = try await client.query("""
                UPDATE chats SET title = COALESCE(\(change.title), title),
                    completion_connection_id = COALESCE(\(change.completionConnectionID), completion_connection_id),
                    embedding_connection_id = COALESCE(\(change.embeddingConnectionID), embedding_connection_id),
                    file_ids = COALESCE(\(change.fileIDs)::uuid[], file_ids), tags = COALESCE(\(change.tags)::text[], tags),
                    system_prompt = CASE WHEN \(clearPrompt) THEN NULL ELSE COALESCE(\(prompt), system_prompt) END,
                    top_k = COALESCE(\(change.topK), top_k), updated_at = now()
                WHERE id = \(id) RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "update chat") }
    }

    public func delete(id: UUID) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("DELETE FROM chats WHERE id = \(id) RETURNING id", logger: logger)
            for try await _ in rows.decode(UUID.self) { return true }
            return false
        } catch { throw PostgresErrors.wrap(error, "delete chat") }
    }

    /// Stores messages (a question and its answer) in one transaction, and touches the chat.
    public func append(_ messages: [ChatMessageRecord]) async throws(NvisyError) {
        guard let chatID = messages.first?.chatID else { return }
        do {
            try await client.withTransaction(logger: logger) { connection in
                for m in messages {
                    try await connection.query("""
                        INSERT INTO chat_messages (id, chat_id, role, content, citations, prompt_tokens, completion_tokens, finish_reason,
                                                   created_by, created_at)
                        VALUES (\(m.id), \(m.chatID), \(m.role), \(m.content), \(m.citationsJSON)::jsonb, \(m.promptTokens),
                                \(m.completionTokens), \(m.finishReason), \(m.createdBy), \(m.createdAt))
                        """, logger: logger).drain()
                }
                try await connection.query("UPDATE chats SET updated_at = now() WHERE id = \(chatID)", logger: logger).drain()
            }
        } catch { throw PostgresErrors.wrap(error, "store chat messages") }
    }

    /// A chat's messages in the order they were written, keyset on the v7 id.
    public func messages(chatID: UUID, after: UUID?, limit: Int) async throws(NvisyError) -> Page<ChatMessageRecord> {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.messageColumns) FROM chat_messages
                WHERE chat_id = \(chatID) AND (\(after)::uuid IS NULL OR id > \(after))
                ORDER BY id LIMIT \(limit + 1)
                """, logger: logger)
            return Page(fetched: try await Self.messageRecords(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list chat messages") }
    }

    /// The last `limit` messages of a chat, oldest first: the history a new answer sees.
    public func recentMessages(chatID: UUID, limit: Int) async throws(NvisyError) -> [ChatMessageRecord] {
        do {
            let rows = try await client.query("""
                SELECT * FROM (SELECT \(unescaped: Self.messageColumns) FROM chat_messages WHERE chat_id = \(chatID)
                               ORDER BY id DESC LIMIT \(limit)) recent ORDER BY id
                """, logger: logger)
            return try await Self.messageRecords(rows)
        } catch { throw PostgresErrors.wrap(error, "read chat history") }
    }

    static func records(_ rows: PostgresRowSequence) async throws -> [ChatRecord] {
        var out: [ChatRecord] = []
        for try await (id, workspace, title, completion, embedding, files, tags, prompt, topK, createdBy, created, updated) in rows.decode(
            (UUID, UUID, String, UUID?, UUID?, [UUID], [String], String?, Int, UUID?, Date, Date).self) {
            out.append(ChatRecord(id: id, workspaceID: workspace, title: title, completionConnectionID: completion,
                                  embeddingConnectionID: embedding, fileIDs: files, tags: tags, systemPrompt: prompt, topK: topK,
                                  createdBy: createdBy, createdAt: created, updatedAt: updated))
        }
        return out
    }

    static func messageRecords(_ rows: PostgresRowSequence) async throws -> [ChatMessageRecord] {
        var out: [ChatMessageRecord] = []
        for try await (id, chat, role, content, citations, prompt, completion, finish, createdBy, created) in rows.decode(
            (UUID, UUID, String, String, String, Int?, Int?, String?, UUID?, Date).self) {
            out.append(ChatMessageRecord(id: id, chatID: chat, role: role, content: content, citationsJSON: citations, promptTokens: prompt,
                                         completionTokens: completion, finishReason: finish, createdBy: createdBy, createdAt: created))
        }
        return out
    }
}
