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
/// (`triggerFileID`), `workspace/files` with `trigger: true` reads just that file.
public struct WorkspaceConnectionResolver: ConnectionResolver {
    public let workspaceID: UUID
    /// The uploaded file that started the run being compiled, if any.
    public let triggerFileID: UUID?
    let connections: ConnectionRepository
    let keyring: CredentialKeyring?

    public init(workspaceID: UUID, triggerFileID: UUID? = nil, connections: ConnectionRepository, keyring: CredentialKeyring?) {
        self.workspaceID = workspaceID
        self.triggerFileID = triggerFileID
        self.connections = connections
        self.keyring = keyring
    }

    public func resolve(_ id: String) async throws -> ResolvedConnection? {
        guard let uuid = UUID(uuidString: id), let record = try await connections.find(id: uuid),
              record.workspaceID == workspaceID else { return nil }
        let config = Self.scoped(try JSONValue(json: record.configJSON), provider: record.provider,
                                 workspaceID: workspaceID, triggerFileID: triggerFileID)
        guard let sealed = record.sealedCredentials else { return ResolvedConnection(provider: record.provider, config: config) }
        guard let keyring else {
            throw NvisyError.unavailable("this host has no master key; the credentials of connection \(id) cannot be opened")
        }
        let plain = try keyring.open(sealed, keyID: record.keyID, workspaceID: record.workspaceID, recordID: record.id)
        return ResolvedConnection(provider: record.provider, config: config, credentials: try JSONValue(json: String(decoding: plain, as: UTF8.self)))
    }

    /// `config` with the host providers' workspace scoping applied.
    public static func scoped(_ config: JSONValue, provider: String, workspaceID: UUID, triggerFileID: UUID? = nil) -> JSONValue {
        guard provider.hasPrefix("workspace/"), case .object(var fields) = config else { return config }
        fields["workspaceId"] = .string(workspaceID.uuidString.lowercased())
        if fields["trigger"]?.boolValue == true, let triggerFileID {
            fields["fileIds"] = [.string(triggerFileID.uuidString.lowercased())]
        }
        return .object(fields)
    }
}
