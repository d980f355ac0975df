import Foundation
import NvisyCore
import NvisyPlugins

/// `bench/discard`: a sink that keeps nothing, so the benchmark can time the indexing template
/// without its database writes (documents → chunk → embed alone) and say where the time goes.
struct BenchDiscardFactory: ProviderFactory {
    var descriptor: ProviderDescriptor {
        ProviderDescriptor(plugin: "bench", name: "discard", description: "benchmark sink that keeps nothing", kinds: [.sink],
                           dataType: .embedding, configSchema: ["type": "object"], credentialsSchema: nil)
    }

    func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws -> any ProviderInstance {
        BenchDiscardSink(descriptor: descriptor)
    }
}

final class BenchDiscardSink: SinkInstance {
    let descriptor: ProviderDescriptor

    init(descriptor: ProviderDescriptor) {
        self.descriptor = descriptor
    }

    func check() async throws {}
    func close() async {}
    func write(_ items: [ProviderItem]) async throws {}
}
