import Foundation
import NvisyCore
import NvisyPostgres
import NvisyRuntime

/// Resolves a pipeline node's `connection` id to its provider, config and opened credentials —
/// only among the connections of one workspace, so a pipeline can never reach another
/// workspace's connection (a foreign id is "no such connection", like a missing one).
public struct WorkspaceConnectionResolver: ConnectionResolver {
    public let workspaceID: UUID
    let connections: ConnectionRepository
    let keyring: CredentialKeyring?

    public init(workspaceID: UUID, connections: ConnectionRepository, keyring: CredentialKeyring?) {
        self.workspaceID = workspaceID
        self.connections = connections
        self.keyring = keyring
    }

    public func resolve(_ id: String) async throws -> ResolvedConnection? {
        guard let uuid = UUID(uuidString: id), let record = try await connections.find(id: uuid),
              record.workspaceID == workspaceID else { return nil }
        let config = try JSONValue(json: record.configJSON)
        guard let sealed = record.sealedCredentials else { return ResolvedConnection(provider: record.provider, config: config) }
        guard let keyring else {
            throw NvisyError.unavailable("this host has no master key; the credentials of connection \(id) cannot be opened")
        }
        let plain = try keyring.open(sealed, keyID: record.keyID, workspaceID: record.workspaceID, recordID: record.id)
        return ResolvedConnection(provider: record.provider, config: config, credentials: try JSONValue(json: String(decoding: plain, as: UTF8.self)))
    }
}
