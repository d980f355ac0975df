import Foundation
import NvisyCore
import NvisyPlugins
import NvisyRuntime

/// Embeds search queries through embedding connections, keeping one provider instance per
/// resolved connection (making an instance can load a model; a query should not pay for it).
/// A changed connection (config or credentials) resolves differently and gets a new instance.
public actor QueryEmbedder {
    let plugins: PluginHost
    private var instances: [ResolvedConnection: any EmbeddingInstance] = [:]

    public init(plugins: PluginHost) {
        self.plugins = plugins
    }

    /// The vector of `text` from `connection`'s provider.
    public func embed(_ text: String, with connection: ResolvedConnection) async throws -> [Float] {
        let instance: any EmbeddingInstance
        if let known = instances[connection] { instance = known } else {
            instance = try await plugins.makeEmbedding(connection.provider, config: connection.config, credentials: connection.credentials)
            if instances.count >= 32, let stale = instances.first {
                instances[stale.key] = nil
                await stale.value.close()
            }
            instances[connection] = instance
        }
        let vectors = try await instance.embed([text])
        guard let vector = vectors.first, vectors.count == 1, !vector.isEmpty else {
            throw NvisyError(.internal, "the embedding provider \(connection.provider) answered \(vectors.count) vectors for one query", retry: .transient)
        }
        return vector
    }

    /// Closes every instance (at shutdown).
    public func close() async {
        for i in instances.values { await i.close() }
        instances = [:]
    }
}
