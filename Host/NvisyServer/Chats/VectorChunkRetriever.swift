import Foundation
import Logging
import NvisyCore
import NvisyPostgres
import PostgresNIO

/// ``ChatContextRetriever`` by cosine distance alone, straight on the `chunks` table (migration
/// 0008): the model's rows, cast to its dimension so that model's HNSW index serves the order.
public struct VectorChunkRetriever: ChatContextRetriever {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func retrieve(workspace: UUID, query: String, model: String, vector: [Float], k: Int, fileIDs: [UUID],
                         tags: [String]) async throws(NvisyError) -> [ChatSource] {
        guard k > 0, !vector.isEmpty, vector.allSatisfy(\.isFinite) else { return [] }
        let literal = "[" + vector.map { String($0) }.joined(separator: ",") + "]"
        let dims = vector.count
        do {
            var modelID: Int32?
            for try await id in try await client.query("""
                SELECT id FROM embedding_models WHERE name = \(model) AND dimensions = \(Int32(dims))
                """, logger: logger).decode(Int32.self) { modelID = id }
            guard let modelID else { return [] }
            let rows = try await client.query("""
                SELECT c.id, c.file_id, f.name, c.page, c.section, c.text,
                       1 - (c.embedding::vector(\(unescaped: String(dims))) <=> \(literal)::vector(\(unescaped: String(dims))))
                FROM chunks c JOIN files f ON f.id = c.file_id
                WHERE c.model_id = \(modelID) AND c.workspace_id = \(workspace)
                  AND (cardinality(\(fileIDs)::uuid[]) = 0 OR c.file_id = ANY(\(fileIDs)::uuid[]))
                  AND (cardinality(\(tags)::text[]) = 0 OR c.tags && \(tags)::text[])
                ORDER BY c.embedding::vector(\(unescaped: String(dims))) <=> \(literal)::vector(\(unescaped: String(dims)))
                LIMIT \(k)
                """, logger: logger)
            var out: [ChatSource] = []
            for try await (id, file, name, page, section, text, score) in rows.decode((UUID, UUID, String, Int?, String?, String, Double).self) {
                out.append(ChatSource(chunkID: id, fileID: file, fileName: name, page: page, section: section, text: text, score: score))
            }
            return out
        } catch let error as NvisyError {
            throw error
        } catch {
            throw NvisyError.internal("postgres: retrieve chat context: \(PostgresErrorText.describe(error))")
        }
    }
}
