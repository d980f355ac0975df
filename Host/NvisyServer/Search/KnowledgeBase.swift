import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime

/// The knowledge base of the workspaces: which embedding connection each one uses, indexing a
/// file (the built-in indexing template run through the run queue), each file's index status,
/// and search (``search(workspace:query:k:mode:fileIds:tags:)``, over ``ChunkSearch``).
///
/// The embedding connection: the workspace setting (`PUT /workspaces/{id}/index-settings`), else
/// the default — a connection named `local embeddings` to `local/embeddings` (offline wordllama),
/// created in the workspace on first use, so indexing works out of the box and always through
/// a connection. The default is recorded as the setting so search keeps using the same model.
public struct KnowledgeBase: Sendable {
    public static let defaultConnectionName = "local embeddings"
    public static let defaultProvider = "local/embeddings"
    /// The indexing template's chunking: windows of 800 characters overlapping by 100.
    public static let chunkParams: JSONValue = ["size": 800, "overlap": 100]

    let index: IndexRepository
    let chunks: ChunkRepository
    let files: FileRepository
    let connections: ConnectionRepository
    let runs: RunRepository
    let service: RunService
    let embedder: QueryEmbedder
    public let search: ChunkSearch

    public init(index: IndexRepository, chunks: ChunkRepository, files: FileRepository, connections: ConnectionRepository,
                runs: RunRepository, service: RunService, embedder: QueryEmbedder, search: ChunkSearch) {
        self.index = index
        self.chunks = chunks
        self.files = files
        self.connections = connections
        self.runs = runs
        self.service = service
        self.embedder = embedder
        self.search = search
    }

    /// The workspace's embedding connection: its id and resolved provider/config/credentials.
    /// `createdBy` makes the default connection when there is none (nil: do not create; answer nil).
    public func embeddingConnection(workspace: UUID, createdBy: UUID?) async throws -> (id: UUID, connection: ResolvedConnection)? {
        let settings = try await index.settings(workspaceID: workspace)
        let resolver = service.resolver(for: workspace)
        if let id = settings.embeddingConnectionID, let resolved = try await resolver.resolve(id.uuidString) {
            return (id, resolved)
        }
        // The default: an existing `local embeddings` connection, else a new one.
        let existing = try await connections.list(workspaceID: workspace, provider: Self.defaultProvider, after: nil, limit: 100).items
        var record = existing.first { $0.name == Self.defaultConnectionName }
        if record == nil {
            guard let createdBy else { return nil }
            // Made even when the provider is not loaded: the run then fails with the compiler's
            // reason, which GET /files/{id}/index reports.
            // Two requests at once may both try: the loser (unique name) reads the winner's.
            let made: ConnectionRecord? = try? await connections.create(
                id: .v7(), workspaceID: workspace, name: Self.defaultConnectionName, provider: Self.defaultProvider,
                configJSON: "{}", sealedCredentials: nil, credentialFields: [], keyID: nil, createdBy: createdBy)
            record = made
            if record == nil {
                record = try await connections.list(workspaceID: workspace, provider: Self.defaultProvider, after: nil, limit: 100).items
                    .first { $0.name == Self.defaultConnectionName }
            }
        }
        guard let record, let resolved = try await resolver.resolve(record.id.uuidString) else { return nil }
        var updated = settings
        updated.embeddingConnectionID = record.id
        try await index.setSettings(workspaceID: workspace, updated)
        return (record.id, resolved)
    }

    /// Texts per embedding call in the indexing template: half the model calls of the built-in's
    /// default (64) for the same model time, so the pipeline's own work per call weighs half as
    /// much (issue 13's benchmark, scripts/bench-rag.sh, uses the same batch). 256 made wordllama
    /// itself slower and erratic.
    public static let embedBatch = 128

    /// The indexing template: the run's trigger file → documents → chunk → embed → chunks.
    public static func template(embeddingConnection: UUID) -> PipelineDefinition {
        typealias N = PipelineDefinition.Node
        typealias E = PipelineDefinition.Edge
        return PipelineDefinition(
            nodes: [N(id: "file", kind: .source, connection: WorkspaceConnectionResolver.triggerFileConnection),
                    N(id: "documents", kind: .transform, transform: "documents/partition"),
                    N(id: "chunk", kind: .transform, transform: "chunk", params: chunkParams),
                    N(id: "embed", kind: .transform, transform: "embed",
                      params: ["connection": .string(embeddingConnection.uuidString.lowercased()), "batchSize": .number(Double(embedBatch))]),
                    N(id: "chunks", kind: .sink, connection: WorkspaceConnectionResolver.chunksConnection)],
            edges: [E(from: "file", to: "documents"), E(from: "documents", to: "chunk"), E(from: "chunk", to: "embed"), E(from: "embed", to: "chunks")])
    }

    /// Queues the indexing run of `file` and records it as the file's latest request.
    public func startIndexing(_ file: FileRecord, by account: UUID?, logger: Logger) async throws -> RunRecord {
        guard file.status == "ready" else {
            throw NvisyError.conflict("file \(file.id.uuidString.lowercased()) is \(file.status); only a ready file can be indexed")
        }
        guard let (connectionID, connection) = try await embeddingConnection(workspace: file.workspaceID, createdBy: account ?? file.createdBy) else {
            throw NvisyError.conflict("the workspace has no embedding connection; set one with PUT /workspaces/{id}/index-settings")
        }
        // Not compiled here: the worker compiles the snapshot, and a missing provider becomes
        // the file's `failed` status with the compiler's reason.
        let definition = Self.template(embeddingConnection: connectionID)
        let json = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
        let detail = APIHandler.json(["fileId": file.id.uuidString.lowercased(), "name": file.name, "purpose": "index"])
        let run = try await runs.create(NewRun(workspaceID: file.workspaceID, pipelineID: nil, pipelineName: "index: \(file.name)",
                                               definitionJSON: json, trigger: "file", triggerDetailJSON: detail, createdBy: account))
        try await index.record(IndexRequestRecord(fileID: file.id, workspaceID: file.workspaceID, fileVersion: file.version,
                                                  modelName: EmbeddingModelName.of(connection), connectionID: connectionID,
                                                  runID: run.id, requestedAt: Date()))
        await service.enqueue(run.id, logger: logger)
        return run
    }

    /// Starts indexing an uploaded file when its workspace asks for it; never fails the upload.
    public func fileUploaded(_ file: FileRecord, logger: Logger) async {
        do {
            guard try await index.settings(workspaceID: file.workspaceID).indexOnUpload else { return }
            _ = try await startIndexing(file, by: file.createdBy, logger: logger)
        } catch {
            logger.warning("indexing on upload failed to start", metadata: ["file": "\(file.id.uuidString.lowercased())", "error": "\(error)"])
        }
    }

    /// The `k` best chunks of `workspace` for `query`, embedded by the workspace's embedding
    /// connection (text mode embeds nothing). No embedding connection yet: nothing is indexed,
    /// an empty answer. This is the entry point for chat context too.
    public func search(workspace: UUID, query: String, k: Int, mode: SearchMode, fileIds: [UUID]? = nil,
                       tags: [String]? = nil) async throws -> [ChunkHit] {
        guard let (_, connection) = try await embeddingConnection(workspace: workspace, createdBy: nil) else { return [] }
        var vector: [Float]?
        if mode != .text {
            do {
                vector = try await embedder.embed(query, with: connection)
            } catch {
                let why = (error as? NvisyError)?.message ?? "\(error)"
                throw NvisyError(.unavailable, "the query cannot be embedded with \(connection.provider): \(why)", retry: .transient)
            }
        }
        return try await search.search(workspace: workspace, query: query, embedding: QueryEmbedding(model: EmbeddingModelName.of(connection), vector: vector),
                                       k: k, mode: mode, fileIds: fileIds, tags: tags)
    }
}
