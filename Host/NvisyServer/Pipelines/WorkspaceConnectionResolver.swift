import Foundation
import NvisyCore
import NvisyPostgres
import NvisyRuntime

/// Resolves a pipeline node's `connection` id to its provider, config and opened credentials —
/// only among the connections of one workspace, so a pipeline can never reach another
/// workspace's connection (a foreign id is "no such connection", like a missing one).
///
/// Connections to the host's own `workspace/*` providers get `workspaceId` set to this workspace
/// (whatever their stored config says), and, for a run started by a file upload
/// (`triggerFileID`), `workspace/files` with `trigger: true` reads just that file;
/// `workspace/chunks` gets `runId`, the run being compiled (its chunks' generation).
///
/// Two built-in ids need no row: `workspace:files` (`workspace/files` with `trigger: true`) and
/// `workspace:chunks` (`workspace/chunks`), used by the indexing template (IndexService).
public struct WorkspaceConnectionResolver: ConnectionResolver {
    /// The built-in connection id of the run's trigger file (`workspace/files`, `trigger: true`).
    public static let triggerFileConnection = "workspace:files"
    /// The built-in connection id of the knowledge-base sink (`workspace/chunks`).
    public static let chunksConnection = "workspace:chunks"
    public let workspaceID: UUID
    /// The uploaded file that started the run being compiled, if any.
    public let triggerFileID: UUID?
    /// The run being compiled, if any.
    public let runID: UUID?
    let connections: ConnectionRepository
    let keyring: CredentialKeyring?

    public init(workspaceID: UUID, triggerFileID: UUID? = nil, runID: UUID? = nil, connections: ConnectionRepository, keyring: CredentialKeyring?) {
        self.workspaceID = workspaceID
        self.triggerFileID = triggerFileID
        self.runID = runID
        self.connections = connections
        self.keyring = keyring
    }

    public func resolve(_ id: String) async throws -> ResolvedConnection? {
        switch id {
        case Self.triggerFileConnection:
            return ResolvedConnection(provider: "workspace/files", config: Self.scoped(["trigger": true], provider: "workspace/files",
                                                                                        workspaceID: workspaceID, triggerFileID: triggerFileID))
        case Self.chunksConnection:
            return ResolvedConnection(provider: "workspace/chunks", config: Self.scoped([:], provider: "workspace/chunks",
                                                                                         workspaceID: workspaceID, runID: runID))
        default: break
        }
        guard let uuid = UUID(uuidString: id), let record = try await connections.find(id: uuid),
              record.workspaceID == workspaceID else { return nil }
        let config = Self.scoped(try JSONValue(json: record.configJSON), provider: record.provider,
                                 workspaceID: workspaceID, triggerFileID: triggerFileID, runID: runID)
        guard let sealed = record.sealedCredentials else { return ResolvedConnection(provider: record.provider, config: config) }
        guard let keyring else {
            throw NvisyError.unavailable("this host has no master key; the credentials of connection \(id) cannot be opened")
        }
        let plain = try keyring.open(sealed, keyID: record.keyID, workspaceID: record.workspaceID, recordID: record.id)
        return ResolvedConnection(provider: record.provider, config: config, credentials: try JSONValue(json: String(decoding: plain, as: UTF8.self)))
    }

    /// `config` with the host providers' workspace scoping applied.
    public static func scoped(_ config: JSONValue, provider: String, workspaceID: UUID, triggerFileID: UUID? = nil, runID: UUID? = nil) -> JSONValue {
        guard provider.hasPrefix("workspace/"), case .object(var fields) = config else { return config }
        fields["workspaceId"] = .string(workspaceID.uuidString.lowercased())
        if provider == "workspace/chunks" {
            fields["runId"] = runID.map { .string($0.uuidString.lowercased()) }
        }
        if fields["trigger"]?.boolValue == true, let triggerFileID {
            fields["fileIds"] = [.string(triggerFileID.uuidString.lowercased())]
        }
        return .object(fields)
    }
}
