import Foundation

/// Whether a plugin's providers can be used.
public enum PluginStatus: String, Sendable, Codable {
    /// Loaded; its providers are in the registry.
    case loaded
    /// `enabled = false` in its manifest; not loaded.
    case disabled
    /// The manifest or library is broken; see ``PluginSummary/error``.
    case failed
}

/// One plugin, as `GET /api/v1/plugins` and `nvisy plugins list` show it.
public struct PluginSummary: Sendable, Codable, Hashable {
    /// The manifest's `name` (or the file name when the manifest cannot be read).
    public var name: String
    /// The plugin's own version, once loaded.
    public var version: String?
    /// `swift` or `python`.
    public var runtime: String?
    /// The manifest file.
    public var manifestPath: String
    /// The library file the host loaded (Swift plugins), once resolved.
    public var library: String?
    public var enabled: Bool
    public var status: PluginStatus
    /// Why the plugin failed: what is wrong and what to do.
    public var error: String?
    public var providers: [ProviderDescriptor]
    /// Where its providers run: in the host (`none`) or in a child process (`process`).
    public var isolation: PluginIsolation = .none
    /// Process isolation: the running child's pid (nil while none runs).
    public var childPid: Int?
    /// Process isolation: how many times its child was restarted after dying.
    public var restarts: Int?
    /// Process isolation: why its last child died (a signal, a cap, a timeout).
    public var lastCrash: String?

    public init(name: String, version: String? = nil, runtime: String? = nil, manifestPath: String,
                library: String? = nil, enabled: Bool, status: PluginStatus, error: String? = nil,
                providers: [ProviderDescriptor] = []) {
        self.name = name
        self.version = version
        self.runtime = runtime
        self.manifestPath = manifestPath
        self.library = library
        self.enabled = enabled
        self.status = status
        self.error = error
        self.providers = providers
    }
}

/// What a load or reload did.
public struct PluginReloadReport: Sendable, Codable, Hashable {
    public var plugins: [PluginSummary]
    /// Plugins whose manifest appeared since the last load.
    public var added: [String]
    /// Plugins whose manifest disappeared (their providers left the registry).
    public var removed: [String]
    public var failed: [String]
}
