import NvisyCore

/// A provider as the registry knows it: what it is and what config it takes.
public struct ProviderDescriptor: Sendable, Codable, Hashable {
    /// `plugin/provider`, e.g. `filesystem/files`.
    public var id: String
    public var plugin: String
    public var name: String
    public var description: String
    /// What it can do; usually one kind, `[source, sink]` for providers that read and write.
    public var kinds: [ProviderKind]
    /// What a source or transform produces, or what a sink accepts.
    public var dataType: ProviderDataType
    /// What a transform accepts (for other kinds, equal to ``dataType``).
    public var inputDataType: ProviderDataType
    /// JSON Schema of the connection config.
    public var configSchema: JSONValue
    /// JSON Schema of the credentials, or nil when the provider takes none.
    public var credentialsSchema: JSONValue?
    /// Whether the provider can act as `kind`.
    public func can(_ kind: ProviderKind) -> Bool { kinds.contains(kind) }

    /// Config defaults from the manifest (`[defaults.<provider>]`), applied under the config.
    public var defaults: JSONValue

    public init(plugin: String, name: String, description: String, kinds: [ProviderKind], dataType: ProviderDataType,
                inputDataType: ProviderDataType? = nil, configSchema: JSONValue, credentialsSchema: JSONValue?,
                defaults: JSONValue = [:]) {
        self.id = "\(plugin)/\(name)"
        self.plugin = plugin
        self.name = name
        self.description = description
        self.kinds = kinds
        self.dataType = dataType
        self.inputDataType = inputDataType ?? dataType
        self.configSchema = configSchema
        self.credentialsSchema = credentialsSchema
        self.defaults = defaults
    }
}
