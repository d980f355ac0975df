import Foundation
import NvisyCore

/// Makes instances of one provider. Each runtime (Swift libraries, embedded
/// Python, code linked into the host) implements it; the registry only sees this.
public protocol ProviderFactory: Sendable {
    /// What the provider is (its `defaults` are filled in by the registry from the manifest).
    var descriptor: ProviderDescriptor { get }
    /// A new instance. `config` has already been validated against the schema and
    /// has the manifest's defaults applied; `credentials` is `{}` when there are none.
    func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws
        -> any ProviderInstance
}

/// What a runtime found in a plugin.
public struct LoadedPlugin: Sendable {
    public var version: String
    /// The file the runtime loaded (a library path, a module), for the listing.
    public var location: String?
    public var providers: [any ProviderFactory]

    public init(version: String, location: String?, providers: [any ProviderFactory]) {
        self.version = version
        self.location = location
        self.providers = providers
    }
}

/// Loads plugins of one `runtime = "…"` kind from their manifests.
public protocol PluginRuntime: Sendable {
    /// The manifest's `runtime` value this runtime serves (`swift`, `python`).
    var name: String { get }
    /// Loads the plugin a manifest describes. Throws ``NvisyError`` with what is wrong
    /// (the registry prefixes the manifest path). Must never crash the host.
    func load(_ manifest: PluginManifest) async throws -> LoadedPlugin
}
