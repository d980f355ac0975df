import Foundation
import NvisyCore
import NvisyPlugins
import Synchronization

/// `bench/traced`: the benchmark's embedding instance behind a wrapper that records when each
/// call started and ended, so a diagnostic run can tell how much of the run the model was busy,
/// and where it waited (before its first call, between calls, after its last).
struct BenchTracedFactory: ProviderFactory {
    let inner: any EmbeddingInstance
    let calls: CallLog

    var descriptor: ProviderDescriptor {
        ProviderDescriptor(plugin: "bench", name: "traced", description: "the benchmark's embedding model, traced", kinds: [.embedding],
                           dataType: .embedding, configSchema: ["type": "object"], credentialsSchema: nil)
    }

    func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws -> any ProviderInstance {
        BenchTracedEmbedding(descriptor: descriptor, inner: inner, calls: calls)
    }
}

/// Start and end instants of every embedding call, in order.
final class CallLog: Sendable {
    private let spans = Mutex<[(start: ContinuousClock.Instant, end: ContinuousClock.Instant, texts: Int)]>([])

    func record(_ start: ContinuousClock.Instant, _ end: ContinuousClock.Instant, texts: Int) { spans.withLock { $0.append((start, end, texts)) } }

    /// Takes the recorded spans and forgets them.
    func take() -> [(start: ContinuousClock.Instant, end: ContinuousClock.Instant, texts: Int)] {
        spans.withLock { s in defer { s = [] }; return s }
    }
}

final class BenchTracedEmbedding: EmbeddingInstance {
    let descriptor: ProviderDescriptor
    private let inner: any EmbeddingInstance
    private let calls: CallLog

    init(descriptor: ProviderDescriptor, inner: any EmbeddingInstance, calls: CallLog) {
        self.descriptor = descriptor
        self.inner = inner
        self.calls = calls
    }

    func check() async throws {}
    func close() async {}

    func embed(_ texts: [String]) async throws -> [[Float]] {
        let start = ContinuousClock.now
        let vectors = try await inner.embed(texts)
        calls.record(start, .now, texts: texts.count)
        return vectors
    }
}
