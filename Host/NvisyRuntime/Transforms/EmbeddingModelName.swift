import NvisyCore

/// The name under which the knowledge base files the vectors of an embedding connection:
/// `<plugin/provider>:<config.model or "default">` (e.g. `local/embeddings:default`,
/// `openai/embeddings:text-embedding-3-small`). Indexing and search derive it the same way, so
/// a query is only ever compared with vectors of the model that embedded the chunks.
public enum EmbeddingModelName {
    public static func of(_ connection: ResolvedConnection) -> String {
        of(provider: connection.provider, config: connection.config)
    }

    public static func of(provider: String, config: JSONValue) -> String {
        let model = config["model"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        return "\(provider):\(model)"
    }
}
