import Foundation
import NvisyPluginKit

/// `openai/embeddings`: vectors from an OpenAI-compatible `/embeddings` endpoint, batched.
final class EmbeddingsProvider: EmbeddingProvider {
    struct Config: Decodable {
        var settings: OpenAISettings
        var batchSize: Int?
        var dimensions: Int?

        private enum Keys: String, CodingKey { case batchSize, dimensions }

        init(from decoder: Decoder) throws {
            settings = try OpenAISettings(from: decoder)
            let c = try decoder.container(keyedBy: Keys.self)
            batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize)
            dimensions = try c.decodeIfPresent(Int.self, forKey: .dimensions)
        }
    }

    static let name = "embeddings"
    static let description = "Text embeddings from an OpenAI-compatible API, sent in batches."
    static let dataType = DataType.embedding
    static let configSchema = #"{"type":"object","required":["baseURL","model"],"additionalProperties":false,"properties":{"#
        + OpenAIClient.settingsProperties
        + #","batchSize":{"type":"integer","minimum":1,"maximum":2048,"default":64},"dimensions":{"type":"integer","minimum":1}}}"#
    static let credentialsSchema: String? = OpenAICredentials.schema

    private let config: Config
    private let client: OpenAIClient

    init(config: Config, credentials: OpenAICredentials) throws {
        self.config = config
        client = try OpenAIClient(settings: config.settings, credentials: credentials)
    }

    func check(_ context: CallContext) throws {
        _ = try client.fetch("models", json: nil, context: context)
    }

    func embed(_ texts: [String], context: CallContext) throws -> [[Float]] {
        let batchSize = max(1, config.batchSize ?? 64)
        var out: [[Float]] = []
        out.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let batch = Array(texts[start..<min(start + batchSize, texts.count)])
            out += try embedBatch(batch, context: context)
            start += batch.count
        }
        if let first = out.first, out.contains(where: { $0.count != first.count }) {
            throw PluginError.permanent("the server returned vectors of different dimensions")
        }
        return out
    }

    private func embedBatch(_ texts: [String], context: CallContext) throws -> [[Float]] {
        var body: [String: JSON] = ["model": .string(client.model), "input": .array(texts.map(JSON.string))]
        if let d = config.dimensions { body["dimensions"] = .number(Double(d)) }
        let data = try client.fetch("embeddings", json: JSON.object(body).serialized(), context: context)
        // Decoded with a typed model: JSON's enum would box every float of every vector.
        struct Response: Decodable {
            struct Row: Decodable { var index: Int?; var embedding: [Float] }
            var data: [Row]
        }
        let response: Response
        do { response = try JSONDecoder().decode(Response.self, from: data) } catch {
            struct PerToken: Decodable { struct Row: Decodable { var embedding: [[Float]] }; var data: [Row] }
            if (try? JSONDecoder().decode(PerToken.self, from: data)) != nil {
                throw PluginError.invalidConfig("\(client.baseURL.absoluteString)/embeddings answered one vector per token: "
                    + "the server runs the model without pooling (llama.cpp: start it with --pooling mean)")
            }
            throw PluginError.permanent("\(client.baseURL.absoluteString)/embeddings answered without data[].embedding: \(error)")
        }
        guard response.data.count == texts.count else {
            throw PluginError.permanent("asked for \(texts.count) embeddings, got \(response.data.count)")
        }
        // Rows carry their input's index; servers may answer out of order.
        var vectors = [[Float]](repeating: [], count: texts.count)
        for (i, row) in response.data.enumerated() {
            let at = row.index ?? i
            guard at >= 0, at < texts.count, vectors[at].isEmpty else {
                throw PluginError.permanent("the server answered an embedding index \(at) out of range or twice")
            }
            vectors[at] = row.embedding
        }
        return vectors
    }
}
