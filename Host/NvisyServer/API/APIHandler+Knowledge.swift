import Foundation
import NvisyCore
import NvisyPostgres
import NvisyRuntime
import OpenAPIRuntime

/// The knowledge base: index a file (`POST /files/{id}/index`), its status, the workspace's
/// indexing settings, and search (`POST /workspaces/{id}/search`). See ``KnowledgeBase``.
extension APIHandler {
    func indexFile(_ input: Operations.IndexFile.Input) async throws -> Operations.IndexFile.Output {
        let file = try await loadFile(input.path.fileId, .runPipelines)
        let me = try context.requireSignedIn()
        let kb = try knowledgeBase()
        let run = try await kb.startIndexing(file, by: me.accountID, logger: try context.logger)
        await record(file.workspaceID, me, "file.index_requested", targetType: "file", targetID: file.id, details: ["run": run.id.text])
        return .accepted(.init(body: .json(try await indexStatus(file, kb))))
    }

    func getFileIndex(_ input: Operations.GetFileIndex.Input) async throws -> Operations.GetFileIndex.Output {
        let file = try await loadFile(input.path.fileId, .view)
        return .ok(.init(body: .json(try await indexStatus(file, try knowledgeBase()))))
    }

    func getIndexSettings(_ input: Operations.GetIndexSettings.Input) async throws -> Operations.GetIndexSettings.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: workspaceID)
        let s = try await deps.index.settings(workspaceID: workspaceID)
        return .ok(.init(body: .json(.init(embeddingConnectionId: s.embeddingConnectionID?.text, indexOnUpload: s.indexOnUpload))))
    }

    func updateIndexSettings(_ input: Operations.UpdateIndexSettings.Input) async throws -> Operations.UpdateIndexSettings.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        let me = try context.requireSignedIn()
        try await context.require(.manageConnections, in: workspaceID)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("the body is JSON") }
        var settings = try await deps.index.settings(workspaceID: workspaceID)
        if let text = body.embeddingConnectionId {
            guard let id = UUID(uuidString: text), let c = try await deps.connections.find(id: id), c.workspaceID == workspaceID else {
                throw NvisyError.invalidInput("there is no connection \(text) in this workspace", pointer: "/embeddingConnectionId")
            }
            if let plugins = deps.plugins {
                let kinds = (try? await plugins.provider(c.provider))?.kinds ?? []
                guard kinds.contains(.embedding) else {
                    throw NvisyError.invalidInput("connection \(text) uses \(c.provider), which is not an embedding provider", pointer: "/embeddingConnectionId")
                }
            }
            settings.embeddingConnectionID = id
        } else {
            settings.embeddingConnectionID = nil
        }
        if let onUpload = body.indexOnUpload { settings.indexOnUpload = onUpload }
        try await deps.index.setSettings(workspaceID: workspaceID, settings)
        await record(workspaceID, me, "workspace.index_settings_changed", targetType: "workspace", targetID: workspaceID, details: [:])
        return .ok(.init(body: .json(.init(embeddingConnectionId: settings.embeddingConnectionID?.text, indexOnUpload: settings.indexOnUpload))))
    }

    func searchWorkspace(_ input: Operations.SearchWorkspace.Input) async throws -> Operations.SearchWorkspace.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: workspaceID)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("the body is JSON") }
        let request = try SearchInput(body)
        let kb = try knowledgeBase()
        let hits = try await kb.search(workspace: workspaceID, query: request.query, k: request.k, mode: request.mode,
                                       fileIds: request.fileIds, tags: request.tags)
        let model = try await kb.embeddingConnection(workspace: workspaceID, createdBy: nil).map { EmbeddingModelName.of($0.connection) }
        let items = hits.map { h in
            Components.Schemas.SearchHit(chunkId: h.chunkID.text, fileId: h.fileID.text, fileName: h.fileName, fileVersion: h.fileVersion,
                                         position: h.position, page: h.page, section: h.section, start: h.start, end: h.end, text: h.text,
                                         tokenCount: h.tokenCount, score: h.score, vectorRank: h.vectorRank, textRank: h.textRank)
        }
        return .ok(.init(body: .json(.init(mode: .init(rawValue: request.mode.rawValue)!, model: model, items: items))))
    }

    func knowledgeBase() throws(NvisyError) -> KnowledgeBase {
        guard let kb = deps.knowledgeBase else { throw NvisyError.unavailable("indexing and search need plugins and the run queue, which this host lacks") }
        return kb
    }

    /// The file's status: indexed when the latest request's run made its generation visible;
    /// pending while that run is queued or running; failed (with why) when it ended without.
    func indexStatus(_ file: FileRecord, _ kb: KnowledgeBase) async throws -> Components.Schemas.FileIndexStatus {
        let request = try await deps.index.request(fileID: file.id)
        // The run before the visible generations: a run completes only after its generation is
        // visible, so in this order a completed run is never seen without its chunks (the other
        // order answered "yielded no text" for a run that completed between the two reads).
        var run: RunRecord?
        if let request { run = try await deps.runs.find(id: request.runID) }
        let visible = try await deps.chunks.status(file: file.id)
        typealias S = Components.Schemas.FileIndexStatus
        func answer(_ status: S.StatusPayload, reason: String? = nil, _ v: FileIndexStatusRecord? = nil) -> S {
            S(fileId: file.id.text, status: status, reason: reason, runId: request?.runID.text, model: v?.modelName ?? request?.modelName,
              fileVersion: v?.fileVersion ?? request?.fileVersion, chunkCount: v?.chunkCount, indexedAt: v?.updatedAt)
        }
        guard let request else {
            return visible.first.map { answer(.indexed, $0) } ?? answer(.unindexed)
        }
        if let v = visible.first(where: { $0.indexRun == request.runID }) { return answer(.indexed, v) }
        let current = visible.first { $0.modelName == request.modelName }
        guard let run else {
            return answer(.failed, reason: "the indexing run \(request.runID.text) no longer exists", current)
        }
        switch run.status {
        case .queued, .running: return answer(.pending, current)
        case .cancelled: return answer(.failed, reason: "the indexing run was cancelled", current)
        case .failed: return answer(.failed, reason: run.error ?? "the indexing run failed", current)
        case .completed:
            let why = run.itemsFailed > 0
                ? "\(run.itemsFailed) item(s) failed to index; see GET /api/v1/runs/\(run.id.text)/errors"
                : "the file yielded no text to index (empty, or a format documents/partition cannot read)"
            return answer(.failed, reason: why, current)
        }
    }
}

/// A checked search request: every problem is a 400 naming its field.
struct SearchInput {
    var query: String
    var k: Int
    var mode: SearchMode
    var fileIds: [UUID]?
    var tags: [String]?

    init(_ body: Components.Schemas.SearchRequest) throws(NvisyError) {
        var errors: [NvisyError.FieldError] = []
        query = body.query.trimmingCharacters(in: .whitespacesAndNewlines)
        if query.isEmpty || query.count > 2000 { errors.append(.init(pointer: "/query", message: "query is 1 to 2000 characters of text")) }
        if query.contains("\u{0}") { errors.append(.init(pointer: "/query", message: "query must not contain NUL characters")) }
        k = body.k ?? 10
        if !(1...100).contains(k) { errors.append(.init(pointer: "/k", message: "k is from 1 to 100 (got \(k))")) }
        mode = body.mode.flatMap { SearchMode(rawValue: $0.rawValue) } ?? .hybrid
        if let ids = body.fileIds {
            if ids.count > 1000 { errors.append(.init(pointer: "/fileIds", message: "at most 1000 file ids")) }
            var parsed: [UUID] = []
            for (i, text) in ids.enumerated() {
                if let id = UUID(uuidString: text) { parsed.append(id) } else { errors.append(.init(pointer: "/fileIds/\(i)", message: "a file id is a UUID")) }
            }
            fileIds = parsed
        }
        if let t = body.tags {
            if t.count > 100 { errors.append(.init(pointer: "/tags", message: "at most 100 tags")) }
            for (i, tag) in t.enumerated() where tag.isEmpty || tag.contains("\u{0}") || tag.count > 200 {
                errors.append(.init(pointer: "/tags/\(i)", message: "a tag is 1 to 200 characters without NUL"))
            }
            tags = t
        }
        if let first = errors.first {
            var e = NvisyError.invalidInput(first.message, pointer: first.pointer)
            e.fieldErrors = errors
            throw e
        }
    }
}
