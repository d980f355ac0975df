import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import NvisyServer

/// Chats end to end: a real Postgres with pgvector holding chunks of a small corpus embedded by
/// the local wordllama model, answers from SmolLM2 through `local/chat` (embedded Python) and
/// through the `openai` plugin against llama.cpp's OpenAI-compatible server, over a real socket.
@Suite("API: chats", .serialized)
struct ChatsTests {
    /// A workspace with the corpus indexed, its owner's token and the two local connections.
    struct World {
        var fixture: ContentFixture
        var token: String
        var owner: UUID
        var workspace: String
        var embedding: String
        var chunks: [UUID]
    }

    /// A fixture whose plugin host has the local and openai plugins.
    static func fixture(_ prefix: String) async throws -> ContentFixture {
        var fixture = try await ContentFixture.make(prefix, nats: true)
        fixture.api.plugins = await ChatTest.plugins(logger: fixture.logger)
        return fixture
    }

    static func world(_ fixture: ContentFixture, client: some TestClientProtocol) async throws -> World {
        let (token, owner) = try await client.signup("chat-\(UUID().uuidString.prefix(8))@example.com")
        let workspace = try await client.workspace(token)
        let embedding = try await client.call(.post, "/api/v1/workspaces/\(workspace)/connections", token: token,
                                              json: ["name": "wordllama", "provider": "local/embeddings", "config": [String: Any]()])
        let embeddingID = try #require(embedding.body["id"] as? String, "\(embedding.body)")
        let chunks = try await ChatTest.index(fixture, workspace: UUID(uuidString: workspace)!, owner: UUID(uuidString: owner)!)
        return World(fixture: fixture, token: token, owner: UUID(uuidString: owner)!, workspace: workspace, embedding: embeddingID, chunks: chunks)
    }

    /// Creates a completion connection and a chat over it; returns the chat id.
    static func chat(_ w: World, client: some TestClientProtocol, provider: String, config: [String: Any]) async throws -> String {
        let completion = try await client.call(.post, "/api/v1/workspaces/\(w.workspace)/connections", token: w.token,
                                               json: ["name": "model-\(UUID().uuidString.prefix(6))", "provider": provider, "config": config])
        let completionID = try #require(completion.body["id"] as? String, "\(completion.body)")
        let chat = try await client.call(.post, "/api/v1/workspaces/\(w.workspace)/chats", token: w.token, json: [
            "title": "Coast questions", "completionConnectionId": completionID, "embeddingConnectionId": w.embedding, "topK": 3,
            "systemPrompt": "You are a concise assistant."])
        #expect(chat.status == .created, "\(chat.body)")
        return try #require(chat.body["id"] as? String)
    }

    /// Asks over SSE and checks the stream: tokens one by one, then `done` with real citations.
    static func streamedAnswer(_ w: World, port: Int, chat: String) async throws {
        let sse = SSEClient()
        let asked = ContinuousClock.now
        try sse.start("http://127.0.0.1:\(port)/api/v1/chats/\(chat)/messages", token: w.token,
                      json: ["content": "When was the Bell Rock Lighthouse first lit?"])
        var events: [ReadEvent] = []
        for await event in sse.events { events.append(event) }
        #expect(sse.httpStatus == 200)
        let tokens = events.filter { $0.name == "token" }
        let done = try #require(events.last, "no events")
        #expect(done.name == "done", "last event: \(done.name) \(done.json)")
        #expect(events.filter { $0.name == "done" }.count == 1)
        // Streamed: at least two token events, read separately, strictly before the done event,
        // and spread over time (not one buffer written at the end).
        #expect(tokens.count >= 2, "\(tokens.count) token events")
        let first = try #require(tokens.first), last = try #require(tokens.last)
        #expect(first.arrived < done.arrived && last.arrived <= done.arrived)
        #expect(last.arrived - first.arrived > .milliseconds(20), "tokens arrived within \(last.arrived - first.arrived)")
        #expect(first.arrived - asked < done.arrived - asked)
        let text = tokens.map { $0.data["text"] as? String ?? "" }.joined()
        let answer = try #require(done.data["answer"] as? [String: Any])
        #expect(answer["content"] as? String == text, "the done event's answer is the streamed text")
        #expect(answer["role"] as? String == "assistant")
        // Citations name chunks that exist, with their files and pages; the lighthouse chunk ranks first.
        let citations = try #require(answer["citations"] as? [[String: Any]])
        #expect(!citations.isEmpty && citations.count <= 3)
        for c in citations {
            let id = try #require((c["chunkId"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(w.chunks.contains(id), "citation \(id) is not a chunk of the corpus")
            #expect(c["fileName"] as? String != nil && c["fileId"] as? String != nil && c["page"] as? Int != nil)
        }
        #expect(citations.first?["fileName"] as? String == "lighthouses.md", "\(citations)")
        let rows = try await w.fixture.base.database.client.query("SELECT count(*) FROM chunks WHERE id = ANY(\(citations.compactMap { ($0["chunkId"] as? String).flatMap(UUID.init(uuidString:)) }))")
        for try await n in rows.decode(Int.self) { #expect(n == citations.count) }
        let usage = try #require(answer["usage"] as? [String: Any])
        #expect((usage["promptTokens"] as? Int ?? 0) > 0 && (usage["completionTokens"] as? Int ?? 0) > 0)
    }

    /// Asks without `Accept: text/event-stream`: the whole answer as JSON.
    static func askJSON(_ w: World, port: Int, chat: String, _ question: String) async throws -> (status: Int, contentType: String?, body: [String: Any]) {
        let answer = try await socketRequest(port: port, "POST", "/api/v1/chats/\(chat)/messages", token: w.token,
                                             body: try JSONSerialization.data(withJSONObject: ["content": question]), contentType: "application/json")
        let body = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any] ?? [:]
        return (answer.status, answer.response.value(forHTTPHeaderField: "Content-Type"), body)
    }

    /// The chat's stored messages (a page of 100).
    static func messages(_ client: some TestClientProtocol, _ w: World, chat: String) async throws -> [[String: Any]] {
        let page = try await client.call(.get, "/api/v1/chats/\(chat)/messages?limit=100", token: w.token)
        #expect(page.status == .ok)
        return page.body["items"] as? [[String: Any]] ?? []
    }

    @Test("local/chat over SSE: tokens arrive one by one, done carries real citations and usage, both messages are stored; JSON answers whole")
    func localChatStreams() async throws {
        let fixture = try await Self.fixture("chat_local")
        try await fixture.app().test(.live) { client in
            let w = try await Self.world(fixture, client: client)
            let chat = try await Self.chat(w, client: client, provider: "local/chat", config: ["max_tokens": 48, "temperature": 0])
            try await Self.streamedAnswer(w, port: try #require(client.port), chat: chat)

            // JSON: the whole answer at once, stored like the streamed one.
            // Over URLSession: HummingbirdTesting's live client gives a request 20 s, which a model
            // answer on a busy 2-core machine can exceed.
            let whole = try await Self.askJSON(w, port: try #require(client.port), chat: chat, "How often should a sourdough starter be fed?")
            #expect(whole.status == 200, "\(whole.body)")
            #expect(whole.contentType == "application/json")
            let answer = try #require(whole.body["answer"] as? [String: Any])
            #expect(!(answer["content"] as? String ?? "").isEmpty)
            let citations = answer["citations"] as? [[String: Any]] ?? []
            // The retrieval query also carries the earlier question, so the lighthouse may rank too.
            #expect(citations.contains { $0["fileName"] as? String == "sourdough.md" }, "\(citations)")
            #expect((whole.body["question"] as? [String: Any])?["content"] as? String == "How often should a sourdough starter be fed?")

            let stored = try await Self.messages(client, w, chat: chat)
            #expect(stored.map { $0["role"] as? String ?? "" } == ["user", "assistant", "user", "assistant"])
            for m in stored where m["role"] as? String == "assistant" {
                #expect(!((m["citations"] as? [Any]) ?? []).isEmpty)
                let usage = m["usage"] as? [String: Any] ?? [:]
                #expect((usage["completionTokens"] as? Int ?? 0) > 0 && (usage["promptTokens"] as? Int ?? 0) > 0)
                #expect(m["finishReason"] as? String != "cancelled")
            }
        }
        await fixture.stop()
    }

    @Test("openai/chat against llama.cpp's OpenAI-compatible server over SSE: streamed tokens, real citations, stored with usage")
    func openAIChatStreams() async throws {
        let base = try await LlamaServers.shared.chatURL()
        let fixture = try await Self.fixture("chat_openai")
        try await fixture.app().test(.live) { client in
            let w = try await Self.world(fixture, client: client)
            let chat = try await Self.chat(w, client: client, provider: "openai/chat",
                                           config: ["baseURL": base, "model": "smollm2", "maxTokens": 48, "temperature": 0])
            try await Self.streamedAnswer(w, port: try #require(client.port), chat: chat)
            let stored = try await Self.messages(client, w, chat: chat)
            #expect(stored.count == 2)
            let usage = stored.last?["usage"] as? [String: Any] ?? [:]
            #expect((usage["promptTokens"] as? Int ?? 0) > 0 && (usage["completionTokens"] as? Int ?? 0) > 0, "\(usage)")
        }
        await fixture.stop()
    }

    @Test("closing the SSE connection cancels the model call: the partial answer is stored as cancelled, far short of max_tokens")
    func disconnectCancels() async throws {
        // A model that streams a token every 50 ms for minutes: only a cancel ends its call.
        let drip = try await LlamaServers.start(["drip"], purpose: "dripping chat server")
        defer { kill(drip.pid, SIGKILL) }
        let fixture = try await Self.fixture("chat_cancel")
        try await fixture.app().test(.live) { client in
            let w = try await Self.world(fixture, client: client)
            let chat = try await Self.chat(w, client: client, provider: "openai/chat",
                                           config: ["baseURL": drip.url + "/v1", "model": "drip", "maxTokens": 1500])
            let sse = SSEClient()
            try sse.start("http://127.0.0.1:\(try #require(client.port))/api/v1/chats/\(chat)/messages", token: w.token,
                          json: ["content": "Count from 1 to 1000."])
            var tokens = 0
            for await event in sse.events where event.name == "token" {
                tokens += 1
                if tokens == 3 { break }
            }
            #expect(tokens == 3)
            sse.cancel()
            let closed = ContinuousClock.now
            // The model task is cancelled (the only way an answer is stored as `cancelled`), well
            // before 1500 tokens could have been generated.
            var answer: [String: Any]?
            while answer == nil, ContinuousClock.now - closed < .seconds(60) {
                answer = try await Self.messages(client, w, chat: chat).first { $0["role"] as? String == "assistant" }
                if answer == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let stored = try #require(answer, "no answer stored after the disconnect")
            #expect(stored["finishReason"] as? String == "cancelled", "\(stored)")
            let generated = (stored["usage"] as? [String: Any])?["completionTokens"] as? Int ?? .max
            #expect(generated >= 3 && generated < 1500, "\(generated) tokens")
            // And the model call itself was closed: the server saw its stream go away.
            var disconnects = 0
            while disconnects == 0, ContinuousClock.now - closed < .seconds(30) {
                let (data, _) = try await URLSession.shared.data(from: URL(string: drip.url + "/__disconnects")!)
                disconnects = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["disconnects"] as? Int ?? 0
                if disconnects == 0 { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(disconnects == 1, "the model server never saw the call end")
        }
        await fixture.stop()
    }

    @Test("bad input: connections of another workspace or of the wrong kind are 422 naming the field; bad content is 400 naming /content")
    func validation() async throws {
        let fixture = try await Self.fixture("chat_validation")
        try await fixture.app().test(.router) { client in
            let (token, _) = try await client.signup("v-\(UUID().uuidString.prefix(8))@example.com")
            let mine = try await client.workspace(token, "Mine"), other = try await client.workspace(token, "Other")
            func connection(_ ws: String, _ provider: String, _ config: [String: Any] = [:]) async throws -> String {
                let made = try await client.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                                 json: ["name": "c-\(UUID().uuidString.prefix(6))", "provider": provider, "config": config])
                return try #require(made.body["id"] as? String, "\(made.body)")
            }
            let chatModel = try await connection(mine, "local/chat"), embed = try await connection(mine, "local/embeddings")
            let foreignEmbed = try await connection(other, "local/embeddings")
            let files = try await connection(mine, "filesystem/files", ["root": "/tmp"])
            func create(_ body: [String: Any]) async throws -> (Int, [String]) {
                let r = try await client.call(.post, "/api/v1/workspaces/\(mine)/chats", token: token, json: body)
                let pointers = (r.body["errors"] as? [[String: Any]] ?? []).compactMap { $0["pointer"] as? String }
                if r.status.code >= 400 { #expect(r.headers[.contentType] == "application/problem+json") }
                return (Int(r.status.code), pointers)
            }
            #expect(try await create(["completionConnectionId": chatModel, "embeddingConnectionId": foreignEmbed]) == (422, ["/embeddingConnectionId"]))
            #expect(try await create(["completionConnectionId": embed, "embeddingConnectionId": embed]) == (422, ["/completionConnectionId"]))
            #expect(try await create(["completionConnectionId": chatModel, "embeddingConnectionId": files]) == (422, ["/embeddingConnectionId"]))
            #expect(try await create(["completionConnectionId": UUID().uuidString, "embeddingConnectionId": embed]) == (422, ["/completionConnectionId"]))
            #expect(try await create(["completionConnectionId": chatModel, "embeddingConnectionId": embed, "topK": 51]).0 == 400)
            #expect(try await create(["completionConnectionId": chatModel, "embeddingConnectionId": embed, "title": "a\u{0}b"]).0 == 400)
            let made = try await client.call(.post, "/api/v1/workspaces/\(mine)/chats", token: token,
                                             json: ["completionConnectionId": chatModel, "embeddingConnectionId": embed])
            #expect(made.status == .created && made.body["title"] as? String == "New chat")
            let chat = try #require(made.body["id"] as? String)
            let patched = try await client.call(.patch, "/api/v1/chats/\(chat)", token: token, json: ["completionConnectionId": files])
            #expect(patched.status.code == 422)
            for body: Any in [["content": ""], ["content": 3], ["nothing": "x"], ["content": "nul \u{0} here"]] {
                let r = try await client.call(.post, "/api/v1/chats/\(chat)/messages", token: token, json: body)
                #expect(r.status == .badRequest, "\(body): \(r.status)")
                #expect((r.body["errors"] as? [[String: Any]])?.first?["pointer"] as? String == "/content", "\(body): \(r.body)")
            }
            let notJSON = try await client.raw(.post, "/api/v1/chats/\(chat)/messages", token: token, body: ByteBuffer(string: "{oops"))
            #expect(notJSON.status == .badRequest)
            // The route is outside the request timeout, but its body is still bounded.
            let huge = try await client.raw(.post, "/api/v1/chats/\(chat)/messages", token: token,
                                            body: ByteBuffer(string: "{\"content\":\"" + String(repeating: "a", count: 100_000) + "\"}"))
            #expect(huge.status == .contentTooLarge)
            #expect(huge.headers[.contentType] == "application/problem+json")
            // Deleting the completion connection leaves the chat; asking then is 422 naming the field.
            #expect(try await client.call(.delete, "/api/v1/connections/\(chatModel)", token: token).status == .noContent)
            let orphan = try await client.call(.post, "/api/v1/chats/\(chat)/messages", token: token, json: ["content": "hello?"])
            #expect(orphan.status.code == 422)
            #expect((orphan.body["errors"] as? [[String: Any]])?.first?["pointer"] as? String == "/completionConnectionId")
            #expect(try await client.call(.delete, "/api/v1/chats/\(chat)", token: token).status == .noContent)
            #expect(try await client.call(.get, "/api/v1/chats/\(chat)", token: token).status == .notFound)
        }
        await fixture.stop()
    }
}
