import Foundation
import NvisyCore
import NvisyPostgres
import OpenAPIRuntime

/// File metadata. Upload and download stream, so ``FilesController`` serves them.
extension APIHandler {
    func uploadFile(_ input: Operations.UploadFile.Input) async throws -> Operations.UploadFile.Output {
        throw NvisyError.internal("uploads are served by FilesController")
    }

    func downloadFile(_ input: Operations.DownloadFile.Input) async throws -> Operations.DownloadFile.Output {
        throw NvisyError.internal("downloads are served by FilesController")
    }

    func listFiles(_ input: Operations.ListFiles.Input) async throws -> Operations.ListFiles.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: workspaceID)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let filter = FileFilter(name: input.query.name, type: input.query._type, tag: input.query.tag)
        let result = try await deps.files.list(workspaceID: workspaceID, filter: filter, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.File.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func getFile(_ input: Operations.GetFile.Input) async throws -> Operations.GetFile.Output {
        let file = try await loadFile(input.path.fileId, .view)
        return .ok(.init(body: .json(.init(file))))
    }

    func updateFile(_ input: Operations.UpdateFile.Input) async throws -> Operations.UpdateFile.Output {
        let file = try await loadFile(input.path.fileId, .editContent)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.name, at: "/name", max: 255)
        if let name, name.contains("/") { check.fail("/name", "must not contain /") }
        let tags = body.tags.map { Array(Set($0.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })).sorted() }
        try check.check()
        guard let updated = try await deps.files.update(id: file.id, name: name, tags: tags) else { throw NvisyError.notFound("no file \(file.id.text)") }
        return .ok(.init(body: .json(.init(updated))))
    }

    func deleteFile(_ input: Operations.DeleteFile.Input) async throws -> Operations.DeleteFile.Output {
        let file = try await loadFile(input.path.fileId, .editContent)
        guard let store = deps.fileStore else { throw NvisyError.unavailable("files are not available on this host (no object store)") }
        // A run of the workspace may be reading it: then its bytes stay until the run ends.
        try await store.delete(file, deferred: try await deps.runs.hasActiveRuns(workspaceID: file.workspaceID))
        await record(file.workspaceID, try context.requireSignedIn(), "file.deleted", targetType: "file", targetID: file.id, details: ["name": file.name])
        return .noContent(.init())
    }

    /// Loads a ready file by id and checks `permission` in its workspace (404 for non-members).
    func loadFile(_ text: String, _ permission: Permission) async throws -> FileRecord {
        let id = try pathID(text, "fileId")
        let context = try context
        _ = try context.requireSignedIn()
        guard let file = try await deps.files.find(id: id) else { throw NvisyError.notFound("no file \(id.text)") }
        try await context.require(permission, in: file.workspaceID)
        return file
    }
}

extension Components.Schemas.File {
    init(_ record: FileRecord) {
        self.init(id: record.id.text, workspaceId: record.workspaceID.text, name: record.name, contentType: record.contentType,
                  declaredType: record.declaredType, sniffedType: record.sniffedType, size: record.size, sha256: record.sha256 ?? "",
                  tags: record.tags, version: record.version, previousId: record.previousID?.text, createdBy: record.createdBy?.text,
                  createdAt: record.createdAt, updatedAt: record.updatedAt)
    }
}
