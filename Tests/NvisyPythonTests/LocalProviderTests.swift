import Foundation
import NvisyCore
import NvisyPlugins
import Testing

/// The shipped `local` plugin (plugins.d/local.toml, python/providers/local) on the embedded
/// interpreter: wordllama embeddings and SmolLM2 chat through llama.cpp, offline.
@Suite("local provider through the embedded Python runtime", .serialized)
struct LocalProviderTests {
    @Test("local/embeddings: 256 dimensions, identical texts give identical vectors, similar texts rank closer")
    func embeddings() async throws {
        let host = await PyTest.shippedHost()
        let plugin = try await host.plugin(named: "local")
        #expect(plugin.status == .loaded, "\(plugin.error ?? "")")
        let embed = try await host.makeEmbedding("local/embeddings", config: [:])
        let v = try await embed.embed(["The cat sat on the mat.", "A kitten rested on the rug.",
                                       "Quarterly revenue fell by ten percent.", "The cat sat on the mat."])
        await embed.close()
        #expect(v.count == 4 && v.allSatisfy { $0.count == 256 })
        #expect(v[0] == v[3])
        func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(dot(v[0], v[1]) > dot(v[0], v[2]))
    }

    @Test("local/chat streams SmolLM2's tokens through the completion callback")
    func chat() async throws {
        let host = await PyTest.shippedHost()
        let chat = try await host.makeCompletion("local/chat", config: ["max_tokens": 32, "temperature": 0])
        let box = TimedTokens()
        let response = try await chat.complete(["messages": [["role": "user", "content": "Write two sentences about the sea."]]]) {
            box.add($0)
        }
        let returned = ContinuousClock.now
        await chat.close()
        let content = try #require(response["content"]?.stringValue)
        #expect(!content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        let tokens = box.tokens
        #expect(tokens.count > 1)
        #expect(tokens.map(\.1).joined() == content)
        let first = try #require(tokens.first?.0), last = try #require(tokens.last?.0)
        #expect(last - first > .milliseconds(20), "tokens arrived within \(last - first): not streamed")
        #expect(first < returned)

        // A bad request is an invalid-input error from the provider, not a crash.
        let again = try await host.makeCompletion("local/chat", config: [:])
        await #expect(throws: NvisyError.self) { _ = try await again.complete(["messages": []]) { _ in } }
        await again.close()
    }
}

/// Tokens with arrival times, appended from the Python thread's callback.
final class TimedTokens: @unchecked Sendable {
    // @unchecked: `items` is only touched under `lock`.
    private let lock = NSLock()
    private var items: [(ContinuousClock.Instant, String)] = []
    func add(_ t: String) { lock.withLock { items.append((.now, t)) } }
    var tokens: [(ContinuousClock.Instant, String)] { lock.withLock { items } }
}
