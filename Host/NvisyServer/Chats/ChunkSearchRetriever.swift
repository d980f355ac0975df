import Foundation
import NvisyCore
import NvisyPostgres

/// ``ChatContextRetriever`` over the knowledge base's search (``ChunkSearch``): hybrid ranking
/// (reciprocal rank fusion of the vector and full-text rankings) of the chunks of the visible
/// index generation, so chat context and `POST /workspaces/{id}/search` find the same chunks.
public struct ChunkSearchRetriever: ChatContextRetriever {
    let search: ChunkSearch

    public init(search: ChunkSearch) {
        self.search = search
    }

    public func retrieve(workspace: UUID, query: String, model: String, vector: [Float], k: Int, fileIDs: [UUID],
                         tags: [String]) async throws(NvisyError) -> [ChatSource] {
        let hits = try await search.search(workspace: workspace, query: query, embedding: QueryEmbedding(model: model, vector: vector), k: k,
                                           mode: .hybrid, fileIds: fileIDs.isEmpty ? nil : fileIDs, tags: tags.isEmpty ? nil : tags)
        return hits.map { ChatSource(chunkID: $0.chunkID, fileID: $0.fileID, fileName: $0.fileName, page: $0.page, section: $0.section,
                                     text: $0.text, score: $0.score) }
    }
}
