import Foundation
import NvisyCore

/// A chunk given to the model as a numbered source, and what its citation shows.
public struct ChatSource: Sendable, Equatable {
    public var chunkID: UUID
    public var fileID: UUID
    public var fileName: String
    public var page: Int?
    public var section: String?
    public var text: String
    /// The retriever's score (higher is closer); comparable only within one answer.
    public var score: Double

    public init(chunkID: UUID, fileID: UUID, fileName: String, page: Int?, section: String?, text: String, score: Double) {
        self.chunkID = chunkID
        self.fileID = fileID
        self.fileName = fileName
        self.page = page
        self.section = section
        self.text = text
        self.score = score
    }
}

/// Finds the chunks a chat answer is given. Chats depend on this small protocol, not on a
/// search implementation, so the knowledge-base search can change underneath them.
public protocol ChatContextRetriever: Sendable {
    /// The `k` best chunks of `workspace` for `query`, best first. `vector` is the query's
    /// embedding by the model `model` (the name chunks were indexed under); `fileIDs` / `tags`
    /// narrow the scope when not empty.
    func retrieve(workspace: UUID, query: String, model: String, vector: [Float], k: Int, fileIDs: [UUID],
                  tags: [String]) async throws(NvisyError) -> [ChatSource]
}
