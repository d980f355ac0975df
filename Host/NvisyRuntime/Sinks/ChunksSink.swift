import Foundation
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import Synchronization

/// `workspace/chunks`: the knowledge-base sink — embedded chunks (from `chunk` → `embed`) into
/// the workspace's pgvector `chunks` table, under the indexing run's generation.
///
/// Config (set by the server, never by a user): `workspaceId`, and `runId` (the run whose
/// generation the chunks belong to). Each item needs `source.fileId` and `source.version`
/// (as `workspace/files` → `documents/partition` set them), `chunk.{index,count,start,end}`
/// (as `chunk` sets them) and a vector with `embedding.model` (as `embed` sets them). The last
/// chunk of a file makes its new generation visible and removes the old one, atomically
/// (``ChunkRepository/write(workspace:modelID:chunks:)``). Idempotent: a re-delivered batch
/// overwrites the same rows. The server registers it in its built-in `workspace` plugin.
public struct ChunksSinkFactory: ProviderFactory {
    let chunks: ChunkRepository?

    /// Without a repository (`nvisy plugins list`) the provider is listed, but making an instance fails.
    public init(chunks: ChunkRepository?) {
        self.chunks = chunks
    }

    public var descriptor: ProviderDescriptor {
        ProviderDescriptor(
            plugin: "workspace", name: "chunks", description: "The workspace's knowledge base (chunks with embeddings, pgvector)",
            kinds: [.sink], dataType: .embedding,
            configSchema: [
                "type": "object", "additionalProperties": false,
                "properties": [
                    "workspaceId": ["type": "string", "description": "set by the server: the connection's workspace"],
                    "runId": ["type": "string", "description": "set by the server: the indexing run"],
                ],
            ],
            credentialsSchema: nil)
    }

    public func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws -> any ProviderInstance {
        guard let chunks else { throw NvisyError.unavailable("workspace/chunks writes the host's database, which only nvisy serve and nvisy worker open") }
        guard let ws = config["workspaceId"]?.stringValue.flatMap(UUID.init(uuidString:)) else {
            throw NvisyError(.invalidInput, "workspace/chunks needs its workspace (set by the server for a connection)", retry: .permanent)
        }
        guard let run = config["runId"]?.stringValue.flatMap(UUID.init(uuidString:)) else {
            throw NvisyError(.invalidInput, "workspace/chunks is written by indexing runs only (POST /files/{id}/index)", retry: .permanent)
        }
        return ChunksSink(descriptor: descriptor, chunks: chunks, workspace: ws, run: run)
    }
}

final class ChunksSink: SinkInstance {
    let descriptor: ProviderDescriptor
    let chunks: ChunkRepository
    let workspace: UUID
    let run: UUID
    /// Model ids by (name, dimensions), registered on first use.
    private let models = Mutex<[String: Int]>([:])

    init(descriptor: ProviderDescriptor, chunks: ChunkRepository, workspace: UUID, run: UUID) {
        self.descriptor = descriptor
        self.chunks = chunks
        self.workspace = workspace
        self.run = run
    }

    func check() async throws {}
    func close() async {}

    /// Chunks per write: one transaction (one commit, one round of publishing checks) per 512
    /// chunks instead of per document, yet small enough that the database stores the first
    /// chunks while the model still embeds the rest — a write of thousands would only start when
    /// most of a run's chunks are embedded. A run ending or a quiet pipeline flushes sooner
    /// (``RunOptions/sinkFlushInterval``).
    static let writeSize = 512
    var preferredWriteSize: Int? { Self.writeSize }

    func write(_ items: [ProviderItem]) async throws {
        var byModel: [String: (name: String, dims: Int, chunks: [NewChunk])] = [:]
        for item in items {
            let (model, chunk) = try Self.chunk(item, run: run)
            let key = "\(model)|\(chunk.vector.count)"
            byModel[key, default: (model, chunk.vector.count, [])].chunks.append(chunk)
        }
        for (key, group) in byModel.sorted(by: { $0.key < $1.key }) {
            let id: Int
            if let known = models.withLock({ $0[key] }) { id = known } else {
                id = try await chunks.modelID(name: group.name, dimensions: group.dims)
                models.withLock { $0[key] = id }
            }
            try await chunks.write(workspace: workspace, modelID: id, chunks: group.chunks)
        }
    }

    /// An item as a chunk row, or a permanent error naming what is missing.
    static func chunk(_ item: ProviderItem, run: UUID) throws(NvisyError) -> (model: String, chunk: NewChunk) {
        let meta = try item.jsonMetadata()
        func bad(_ what: String) -> NvisyError {
            NvisyError(.invalidInput, "workspace/chunks: item \(item.resumeTokenString) \(what)", retry: .permanent)
        }
        func int(_ v: JSONValue?) -> Int? { v?.doubleValue.flatMap { $0 >= 0 && $0 < 2e9 && $0 == $0.rounded() ? Int($0) : nil } }
        let source = meta["source"] ?? meta
        guard let file = (source["fileId"] ?? meta["fileId"])?.stringValue.flatMap(UUID.init(uuidString:)) else {
            throw bad("has no source.fileId (index workspace/files → documents/partition → chunk → embed)")
        }
        guard let version = int(source["version"] ?? meta["version"]) else { throw bad("has no source.version") }
        guard let c = meta["chunk"], let index = int(c["index"]), let count = int(c["count"]), index < count,
              let start = int(c["start"]), let end = int(c["end"]), end >= start else {
            throw bad("has no chunk {index, count, start, end} (made by the chunk built-in)")
        }
        guard let vector = item.vector, !vector.isEmpty else { throw bad("has no embedding (made by the embed built-in)") }
        guard let model = (meta["embedding"]?["model"] ?? meta["embedding"]?["provider"])?.stringValue else {
            throw bad("has no embedding.model")
        }
        let text = String(decoding: item.payload, as: UTF8.self)
        return (model, NewChunk(fileID: file, fileVersion: version, indexRun: run, position: index, total: count,
                                page: int(c["page"]), section: c["section"]?.stringValue, start: start, end: end, text: text,
                                tokenCount: TokenEstimate.tokens(text), vector: vector))
    }
}
