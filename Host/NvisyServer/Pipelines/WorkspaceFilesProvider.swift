import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime
import Synchronization

/// The host's own providers, registered as the built-in plugin `workspace` (no manifest; it
/// survives reloads): `workspace/files`, the workspace's uploaded files read from the object
/// store, as objects; `workspace/chunks`, the knowledge-base sink (``ChunksSinkFactory``).
///
/// A `workspace/files` connection never names its workspace: the server's connection resolver
/// sets `workspaceId` to the connection's own workspace, so a pipeline can read only the files of
/// the workspace it belongs to.
public enum WorkspaceProviders {
    /// Registers them on `host`. Without a store (`nvisy plugins list`) they are listed, but
    /// making an instance fails.
    public static func register(on host: PluginHost, store: FileStore?, chunks: ChunkRepository? = nil) async {
        await host.registerBuiltin(plugin: "workspace", version: "built-in",
                                   providers: [WorkspaceFilesFactory(store: store), ChunksSinkFactory(chunks: chunks)])
    }
}

/// `workspace/files`: a source of the workspace's ready files (newest versions and old ones
/// alike), in upload order; the resume token is the file id. Config: `tag`, `name`, `type`
/// (`text/csv`, `text/*`), `fileIds`, and `trigger: true` (only the file whose upload started
/// the run).
struct WorkspaceFilesFactory: ProviderFactory {
    let store: FileStore?

    var descriptor: ProviderDescriptor {
        ProviderDescriptor(
            plugin: "workspace", name: "files", description: "The workspace's uploaded files, as objects",
            kinds: [.source], dataType: .object,
            configSchema: [
                "type": "object", "additionalProperties": false,
                "properties": [
                    "workspaceId": ["type": "string", "description": "set by the server: the connection's workspace"],
                    "tag": ["type": "string", "description": "only files with this tag"],
                    "name": ["type": "string", "description": "only files with this name"],
                    "type": ["type": "string", "description": "only this content type (text/csv) or family (text/*)"],
                    "fileIds": ["type": "array", "items": ["type": "string"], "maxItems": 1000, "description": "only these files"],
                    "trigger": ["type": "boolean", "description": "only the file whose upload started the run"],
                ],
            ],
            credentialsSchema: nil)
    }

    func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws -> any ProviderInstance {
        guard let store else { throw NvisyError.unavailable("workspace/files reads the object store, which only nvisy serve and nvisy worker open") }
        guard let text = config["workspaceId"]?.stringValue, let workspace = UUID(uuidString: text) else {
            throw NvisyError(.invalidInput, "workspace/files needs its workspace (set by the server for a connection)", retry: .permanent)
        }
        var ids: [UUID]?
        if let list = config["fileIds"]?.arrayValue {
            ids = try list.map { v throws(NvisyError) in
                guard let s = v.stringValue, let id = UUID(uuidString: s) else {
                    throw NvisyError(.invalidInput, "fileIds holds file ids (UUIDs)", retry: .permanent)
                }
                return id
            }
        }
        if config["trigger"]?.boolValue == true, ids == nil {
            throw NvisyError(.invalidInput, "this run was not started by a file upload, and the source reads only the file that started it", retry: .permanent)
        }
        let filter = FileFilter(name: config["name"]?.stringValue, type: config["type"]?.stringValue, tag: config["tag"]?.stringValue)
        return WorkspaceFilesSource(descriptor: descriptor, store: store, workspace: workspace, filter: filter, ids: ids.map { $0.sorted { $0.uuidString < $1.uuidString } })
    }
}

final class WorkspaceFilesSource: SourceInstance {
    let descriptor: ProviderDescriptor
    let store: FileStore
    let workspace: UUID
    let filter: FileFilter
    let ids: [UUID]?

    init(descriptor: ProviderDescriptor, store: FileStore, workspace: UUID, filter: FileFilter, ids: [UUID]?) {
        self.descriptor = descriptor
        self.store = store
        self.workspace = workspace
        self.filter = filter
        self.ids = ids
    }

    func check() async throws {
        _ = try await store.files.list(workspaceID: workspace, filter: filter, after: nil, limit: 1)
    }

    func close() async {}

    func openCursor(after resumeToken: Data?) async throws -> any BatchCursor {
        let after = resumeToken.flatMap { UUID(uuidString: String(decoding: $0, as: UTF8.self)) }
        return WorkspaceFilesCursor(source: self, after: after)
    }

    func estimatedItems(after resumeToken: Data?) async -> Int? {
        let after = resumeToken.flatMap { UUID(uuidString: String(decoding: $0, as: UTF8.self)) }
        if let ids { return ids.filter { id in after.map { id.uuidString > $0.uuidString } ?? true }.count }
        return try? await store.files.count(workspaceID: workspace, filter: filter, after: after)
    }

    /// The next files after `after`, at most `limit`.
    func files(after: UUID?, limit: Int) async throws -> [FileRecord] {
        guard let ids else { return try await store.files.list(workspaceID: workspace, filter: filter, after: after, limit: limit).items }
        var out: [FileRecord] = []
        for id in ids where after.map({ id.uuidString > $0.uuidString }) ?? true {
            guard out.count < limit else { break }
            // Another workspace's id reads as missing; a file being deleted is still readable.
            if let file = try await store.files.find(id: id), file.workspaceID == workspace, file.status != "uploading" { out.append(file) }
        }
        return out
    }

    func item(_ file: FileRecord) async throws -> ProviderItem {
        let bytes = try await store.objects.bytes(file.objectKey)
        var meta: [String: JSONValue] = ["path": .string(file.name), "name": .string(file.name), "fileId": .string(file.id.uuidString.lowercased()),
                                         "contentType": .string(file.contentType), "size": .number(Double(file.size)),
                                         "tags": .array(file.tags.map { .string($0) }), "version": .number(Double(file.version))]
        if let sha = file.sha256 { meta["sha256"] = .string(sha) }
        return ProviderItem(metadata: .object(meta), payload: Data(bytes), resumeToken: Data(file.id.uuidString.utf8))
    }
}

/// Pages through the files; a file is read when its batch is asked for.
final class WorkspaceFilesCursor: BatchCursor {
    let source: WorkspaceFilesSource
    private let position: Mutex<(after: UUID?, done: Bool)>

    init(source: WorkspaceFilesSource, after: UUID?) {
        self.source = source
        position = Mutex((after, false))
    }

    func next(maxItems: Int) async throws -> [ProviderItem]? {
        let (after, done) = position.withLock { $0 }
        if done { return nil }
        let files = try await source.files(after: after, limit: max(1, maxItems))
        if files.isEmpty {
            position.withLock { $0.done = true }
            return nil
        }
        var items: [ProviderItem] = []
        for file in files { items.append(try await source.item(file)) }
        position.withLock { $0.after = files.last?.id }
        return items
    }

    func close() {}
}
