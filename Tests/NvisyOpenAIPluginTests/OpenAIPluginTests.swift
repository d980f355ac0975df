import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NvisyCore
import NvisyPlugins
import Testing

/// The `openai` plugin (Plugins/OpenAI) through the host's dlopen loader, against
/// llama.cpp's real OpenAI-compatible server on loopback.
@Suite("openai plugin against llama.cpp's server", .serialized)
struct OpenAIPluginTests {
    @Test("plugins.d/openai.toml loads openai/chat and openai/embeddings with their schemas")
    func manifestLoads() async throws {
        let host = await OpenAITest.host()
        let plugin = try await host.plugin(named: "openai")
        #expect(plugin.status == .loaded, "\(plugin.error ?? "")")
        let chat = try await host.provider("openai/chat")
        #expect(chat.kinds == [.completion])
        #expect(chat.configSchema["required"] == ["baseURL", "model"])
        #expect(chat.credentialsSchema?["properties"]?["apiKey"] != nil)
        let embeddings = try await host.provider("openai/embeddings")
        #expect(embeddings.kinds == [.embedding])
    }

    @Test("chat streams tokens as the server produces them")
    func chatStreams() async throws {
        let base = try await OpenAITest.llama.chatURL()
        let host = await OpenAITest.host()
        let chat = try await host.makeCompletion("openai/chat", config: ["baseURL": .string(base), "model": "smollm2",
                                                                       "temperature": 0, "maxTokens": 48])
        let log = TokenLog()
        let response = try await chat.complete(["messages": [
            ["role": "system", "content": "You are a helpful assistant."],
            ["role": "user", "content": "Write three sentences about the sea."],
        ]]) { log.add($0) }
        let returned = ContinuousClock.now
        await chat.close()

        let content = try #require(response["content"]?.stringValue)
        #expect(!content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        #expect(log.all.count > 1, "expected several token callbacks, got \(log.all.count)")
        #expect(log.all.joined() == content)
        #expect(response["finishReason"] != nil && response["finishReason"] != .null)
        // Incremental: the first token arrived well before the last one and before the call
        // returned; had the plugin buffered the whole answer they would arrive together.
        let arrivals = log.arrivals
        let first = try #require(arrivals.first), last = try #require(arrivals.last)
        #expect(last - first > .milliseconds(20), "tokens arrived within \(last - first): not streamed")
        #expect(first < returned)
    }

    @Test("embeddings: the model's dimension, batched, identical inputs give identical vectors")
    func embeddings() async throws {
        let base = try await OpenAITest.llama.embeddingURL()
        let host = await OpenAITest.host()
        // batchSize 2 splits five texts into three requests; order must survive.
        let embed = try await host.makeEmbedding("openai/embeddings", config: ["baseURL": .string(base), "model": "smollm2",
                                                                            "batchSize": 2])
        let texts = ["The cat sat on the mat.", "Stock markets fell sharply today.", "The cat sat on the mat.",
                     "Photosynthesis converts light into chemical energy.", "Stock markets fell sharply today."]
        let vectors = try await embed.embed(texts)
        let again = try await embed.embed(texts)
        await embed.close()
        #expect(vectors.count == texts.count)
        #expect(vectors.allSatisfy { $0.count == OpenAITest.smolDimensions }, "\(vectors.map(\.count))")
        // The same call gives the same vectors, bit for bit.
        #expect(again == vectors)
        // Same text at the same place of same-size batches: identical. In a batch of another size
        // llama.cpp's arithmetic may differ in the last bits, so: the same direction.
        #expect(vectors[0] == vectors[2])
        #expect(Self.cosine(vectors[1], vectors[4]) > 0.9999)
        #expect(Self.cosine(vectors[0], vectors[1]) < 0.999)
        #expect(Self.cosine(vectors[0], vectors[3]) < 0.999)
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x * y); na += Double(x * x); nb += Double(y * y) }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    @Test("the host's timeout cancels a streaming request, and the plugin lets go at once")
    func cancelledByTimeout() async throws {
        let base = try await OpenAITest.llama.chatURL()
        let host = await OpenAITest.host(timeout: .milliseconds(600))
        let chat = try await host.makeCompletion("openai/chat", config: ["baseURL": .string(base), "model": "smollm2",
                                                                       "maxTokens": 2000, "temperature": 1])
        let log = TokenLog()
        do {
            _ = try await chat.complete(["messages": [["role": "user", "content": "Tell a very long story about dragons."]]]) {
                log.add($0)
            }
            Issue.record("expected the 600 ms timeout to cancel a 2000-token answer")
        } catch let error as NvisyError {
            #expect(error.retry == .transient, "\(error)")
            #expect(error.message.contains("timeout"), "\(error.message)")
        }
        // Had the plugin ignored `is_cancelled`, the host would refuse the next call as stuck.
        try await Task.sleep(for: .milliseconds(200))
        do {
            _ = try await chat.complete(["messages": [["role": "user", "content": "Hi"]], "maxTokens": 1]) { _ in }
        } catch let error as NvisyError {
            #expect(!error.message.contains("still stuck"), "\(error.message)")
        }
        await chat.close()
    }

    @Test("a closed port is a transient error")
    func closedPort() async throws {
        let port = try FreePort.loopback()  // free now, and nobody listens on it
        let host = await OpenAITest.host()
        let embed = try await host.makeEmbedding("openai/embeddings", config: [
            "baseURL": .string("http://127.0.0.1:\(port)/v1"), "model": "m", "maxRetries": 1, "maxRetryDelaySeconds": 0.1,
        ])
        do {
            _ = try await embed.embed(["x"])
            Issue.record("expected an error from a closed port")
        } catch let error as NvisyError {
            #expect(error.retry == .transient, "\(error)")
            #expect(error.message.contains("127.0.0.1:\(port)"), "\(error.message)")
        }
        await embed.close()
    }

    @Test("401 from a real HTTP server is a permanent unauthorized error, and the key is not in it")
    func unauthorized() async throws {
        let server = try await OpenAITest.start(["status", "--status", "401"], purpose: "401 server")
        defer { kill(server.pid, SIGTERM) }
        let host = await OpenAITest.host()
        let secret = "sk-test-\(UUID().uuidString)"
        let chat = try await host.makeCompletion("openai/chat", config: ["baseURL": .string(server.url + "/v1"), "model": "m"],
                                                 credentials: ["apiKey": .string(secret)])
        do {
            _ = try await chat.complete(["messages": [["role": "user", "content": "hi"]]]) { _ in }
            Issue.record("expected a 401 error")
        } catch let error as NvisyError {
            #expect(error.kind == .unauthorized, "\(error)")
            #expect(error.retry == .permanent)
            #expect(error.message.contains("401"))
            #expect(!error.message.contains(secret))
        }
        // Only one request: a 401 is never retried.
        let arrivals = try await Self.requestCount(server.url)
        #expect(arrivals == 1)
        await chat.close()
        await OpenAITest.stop(server.pid)
    }

    @Test("429 with Retry-After is retried after the wait, then streams from the real server")
    func rateLimitedThenServed() async throws {
        let upstream = try await OpenAITest.llama.chatURL()
        let server = try await OpenAITest.start(["status", "--status", "429", "--fail-first", "2", "--retry-after", "1",
                                                 "--upstream", String(upstream.dropLast(3))], purpose: "429 proxy")
        defer { kill(server.pid, SIGTERM) }
        let host = await OpenAITest.host()
        // Greedy decoding: sampled, the small model sometimes answers with its end token at once,
        // and an empty answer would not show that the retried request streamed.
        let chat = try await host.makeCompletion("openai/chat", config: ["baseURL": .string(server.url + "/v1"), "model": "smollm2",
                                                                       "maxTokens": 8, "maxRetries": 3, "temperature": 0])
        let log = TokenLog()
        let started = ContinuousClock.now
        let response = try await chat.complete(["messages": [["role": "user", "content": "Say hello."]]]) { log.add($0) }
        let elapsed = ContinuousClock.now - started
        let text = response["content"]?.stringValue ?? ""
        #expect(text.count > 0)
        #expect(log.all.count > 0)
        #expect(try await Self.requestCount(server.url) == 3)
        #expect(elapsed >= .seconds(2), "two Retry-After: 1 waits, took \(elapsed)")

        // Out of retries: a transient error that names the status.
        let always = try await OpenAITest.start(["status", "--status", "429", "--retry-after", "0"], purpose: "429 server")
        defer { kill(always.pid, SIGTERM) }
        let exhausted = try await host.makeCompletion("openai/chat", config: ["baseURL": .string(always.url + "/v1"), "model": "m",
                                                                            "maxRetries": 2])
        do {
            _ = try await exhausted.complete(["messages": [["role": "user", "content": "hi"]]]) { _ in }
            Issue.record("expected a 429 error")
        } catch let error as NvisyError {
            #expect(error.retry == .transient, "\(error)")
            #expect(error.message.contains("429"))
        }
        #expect(try await Self.requestCount(always.url) == 3)
        for i in [chat, exhausted] { await i.close() }
        await OpenAITest.stop(server.pid)
        await OpenAITest.stop(always.pid)
    }

    @Test("bad config and bad requests are refused with clear errors, never a crash")
    func badInput() async throws {
        let host = await OpenAITest.host()
        do {
            _ = try await host.makeCompletion("openai/chat", config: ["baseURL": "ftp://example.com", "model": "m"])
            Issue.record("expected ftp:// to be refused")
        } catch let error as NvisyError {
            #expect(error.retry == .permanent)
            #expect(error.message.contains("baseURL"), "\(error.message)")
        }
        let chat = try await host.makeCompletion("openai/chat", config: ["baseURL": "http://127.0.0.1:9/v1", "model": "m"])
        await #expect(throws: NvisyError.self) { _ = try await chat.complete(["messages": []]) { _ in } }
        await #expect(throws: NvisyError.self) { _ = try await chat.complete(["messages": [["role": "user"]]]) { _ in } }
        await chat.close()
    }

    /// How many requests the status server has seen.
    static func requestCount(_ base: String) async throws -> Int {
        let (data, _) = try await URLSession.shared.data(from: URL(string: base + "/__requests")!)
        return try JSONDecoder().decode([Double].self, from: data).count
    }
}
