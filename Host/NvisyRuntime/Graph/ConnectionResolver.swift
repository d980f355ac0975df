import NvisyCore

/// A connection as the runtime needs it: which provider, with what config and credentials
/// (decrypted). Credentials never leave the runtime: not in plans' descriptions, not in logs.
public struct ResolvedConnection: Sendable, Hashable {
    /// `plugin/provider`, e.g. `postgres/table`.
    public var provider: String
    public var config: JSONValue
    public var credentials: JSONValue?

    public init(provider: String, config: JSONValue, credentials: JSONValue? = nil) {
        self.provider = provider
        self.config = config
        self.credentials = credentials
    }
}

/// Turns a node's `connection` id into a provider, config and credentials.
///
/// The server implements it over its connections table (checking that the connection
/// belongs to the pipeline's workspace and decrypting the credentials); tests and tools
/// use ``StaticConnectionResolver``.
public protocol ConnectionResolver: Sendable {
    /// The connection `id`, or nil when there is none (the compiler reports it on the node).
    /// Throw only when the lookup itself failed (e.g. the database is unreachable).
    func resolve(_ id: String) async throws -> ResolvedConnection?
}

/// Connections held in memory: for tests, the benchmark and `nvisy` tooling.
public struct StaticConnectionResolver: ConnectionResolver {
    public var connections: [String: ResolvedConnection]

    public init(_ connections: [String: ResolvedConnection] = [:]) {
        self.connections = connections
    }

    public func resolve(_ id: String) async throws -> ResolvedConnection? { connections[id] }
}
