import Foundation
import Logging
import NvisyCore

/// The provider registry: loads plugins from a `plugins.d` directory, lists them and
/// their providers, and makes provider instances — whatever runtime is behind them.
///
/// ```swift
/// let host = PluginHost(directory: URL(fileURLWithPath: "plugins.d"), logger: logger)
/// await host.reload()                                   // at start, on SIGHUP, on POST /plugins/reload
/// let plugins = await host.plugins()                    // GET /api/v1/plugins
/// let files = try await host.makeSource("filesystem/files", config: ["root": "/data"])
/// for try await batch in files.read() { … }
/// ```
///
/// A broken manifest or library is reported in ``plugins()`` (status `failed`, with
/// why) and logged with its manifest path; it never stops the others or the host.
/// Instances already made keep working across reloads.
public actor PluginHost {
    public nonisolated let directory: URL
    public nonisolated let resolver: PluginLibraryResolver
    public nonisolated let defaultCallOptions: ProviderCallOptions
    let logger: Logger
    var runtimes: [String: any PluginRuntime] = [:]

    private var summaries: [PluginSummary] = []
    private var factories: [String: any ProviderFactory] = [:]
    private var descriptors: [String: ProviderDescriptor] = [:]
    private var builtins: [String: (version: String, providers: [any ProviderFactory])] = [:]
    /// `isolation = "process"` plugins: the supervisor of each one's child (see PluginHost+Isolation.swift).
    var supervisors: [String: IsolatedPluginSupervisor] = [:]
    /// How isolated plugins' children are started.
    public internal(set) var isolationSettings: IsolationSettings = .default

    /// - Parameters:
    ///   - directory: the `plugins.d` directory with one `*.toml` manifest per plugin.
    ///   - librarySearchPath: where Swift plugin libraries are looked up after the
    ///     manifest's own directory (see ``PluginLibraryResolver``).
    ///   - runtimes: extra runtimes (e.g. embedded Python); `swift` is always present.
    ///   - callOptions: timeout and isolation for instances made without explicit options.
    public init(directory: URL, librarySearchPath: [URL] = PluginLibraryResolver.defaultSearchPath,
                runtimes: [any PluginRuntime] = [], callOptions: ProviderCallOptions = .default, logger: Logger) {
        self.directory = directory
        self.resolver = PluginLibraryResolver(searchPath: librarySearchPath)
        self.defaultCallOptions = callOptions
        self.logger = logger
        HostAPI.logger = logger
        let swift = SwiftPluginRuntime(resolver: resolver)
        self.runtimes[swift.name] = swift
        for r in runtimes { self.runtimes[r.name] = r }
    }

    /// Adds a runtime (e.g. Python) for manifests with `runtime = runtime.name`. Takes effect at the next reload.
    public func addRuntime(_ runtime: any PluginRuntime) {
        runtimes[runtime.name] = runtime
    }

    /// Registers providers linked into the host itself as plugin `name`; they survive reloads.
    public func registerBuiltin(plugin name: String, version: String, providers: [any ProviderFactory]) {
        builtins[name] = (version, providers)
        rebuildIndex()
    }

    // MARK: Loading

    /// Scans the directory and (re)loads every manifest: new manifests appear, removed
    /// ones disappear, changed ones are re-read. Never throws: failures are in the report.
    @discardableResult
    public func reload() async -> PluginReloadReport {
        let before = Set(summaries.map(\.name))
        var next: [PluginSummary] = []
        var names: [String: String] = [:]  // plugin name -> manifest path
        for name in builtins.keys { names[name] = "(built in)" }

        for file in manifestFiles() {
            var summary = await loadOne(file, names: names)
            if summary.status != .failed || names[summary.name] == nil { names[summary.name] = file.path }
            if summary.status == .failed { logger.warning("plugin failed", metadata: ["manifest": "\(file.path)", "error": "\(summary.error ?? "")"]) }
            summary.providers.sort { $0.name < $1.name }
            next.append(summary)
        }
        summaries = next
        rebuildIndex()
        let after = Set(summaries.map(\.name))
        let report = PluginReloadReport(
            plugins: plugins(), added: after.subtracting(before).sorted(), removed: before.subtracting(after).sorted(),
            failed: summaries.filter { $0.status == .failed }.map(\.name))
        logger.info("plugins loaded", metadata: [
            "loaded": "\(summaries.filter { $0.status == .loaded }.count)", "failed": "\(report.failed.count)",
            "providers": "\(descriptors.count)"])
        return report
    }

    private func manifestFiles() -> [URL] {
        guard let entries = try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil) else {
            logger.warning("plugins directory cannot be read", metadata: ["directory": "\(directory.path)"])
            return []
        }
        return entries.filter { $0.pathExtension == "toml" && !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    private func loadOne(_ file: URL, names: [String: String]) async -> PluginSummary {
        let stem = file.deletingPathExtension().lastPathComponent
        let manifest: PluginManifest
        do {
            manifest = try PluginManifest.load(from: file)
        } catch {
            return PluginSummary(name: stem, manifestPath: file.path, enabled: false, status: .failed, error: "\(error)")
        }
        var summary = PluginSummary(name: manifest.name, runtime: manifest.runtime, manifestPath: file.path,
                                    library: manifest.library ?? manifest.module, enabled: manifest.enabled, status: .disabled)
        func fail(_ why: String) -> PluginSummary {
            summary.status = .failed
            summary.error = "\(file.path): \(why)"
            return summary
        }
        if let other = names[manifest.name] {
            return fail("duplicate plugin name \"\(manifest.name)\" (also in \(other)); rename one")
        }
        guard manifest.enabled else { return summary }
        summary.isolation = manifest.isolation
        let loaded: LoadedPlugin
        if manifest.isolation == .process {
            do {
                loaded = try await loadIsolated(manifest)
            } catch {
                return fail("\(error)")
            }
        } else {
            guard let runtime = runtimes[manifest.runtime] else {
                return fail("no \"\(manifest.runtime)\" runtime in this host")
            }
            do {
                loaded = try await runtime.load(manifest)
            } catch {
                return fail("\(error)")
            }
        }
        summary.version = loaded.version
        summary.library = loaded.location ?? summary.library
        var providers: [ProviderDescriptor] = []
        var seen: Set<String> = []
        for factory in loaded.providers {
            var d = factory.descriptor
            guard seen.insert(d.name).inserted else { return fail("duplicate provider name \"\(d.name)\"") }
            if let defaults = manifest.defaults[d.name] {
                // Defaults are a partial config: check their types, not `required`.
                var partial = d.configSchema
                if case .object(var kw) = partial { kw["required"] = nil; partial = .object(kw) }
                do {
                    try JSONSchemaValidator(schema: partial).validate(defaults, what: "[defaults.\(d.name)]",
                                                                      pointerPrefix: "/defaults/\(d.name)")
                } catch {
                    return fail("\(error)")
                }
                d.defaults = defaults
            }
            providers.append(d)
        }
        if let unknown = manifest.defaults.keys.sorted().first(where: { !seen.contains($0) }) {
            return fail("[defaults.\(unknown)] names no provider of this plugin (it has: \(seen.sorted().joined(separator: ", ")))")
        }
        summary.status = .loaded
        summary.providers = providers
        pending[manifest.name] = Dictionary(uniqueKeysWithValues: loaded.providers.map { ($0.descriptor.name, $0) })
        return summary
    }

    /// Factories of plugins loaded in the current reload, by plugin then provider name.
    private var pending: [String: [String: any ProviderFactory]] = [:]
    private var loadedFactories: [String: [String: any ProviderFactory]] = [:]

    private func rebuildIndex() {
        for (name, f) in pending { loadedFactories[name] = f }
        pending = [:]
        var f: [String: any ProviderFactory] = [:]
        var d: [String: ProviderDescriptor] = [:]
        for s in summaries where s.status == .loaded {
            for desc in s.providers {
                guard let factory = loadedFactories[s.name]?[desc.name] else { continue }
                f[desc.id] = factory
                d[desc.id] = desc
            }
        }
        for (name, b) in builtins {
            for factory in b.providers {
                var desc = factory.descriptor
                desc.plugin = name
                desc.id = "\(name)/\(desc.name)"
                f[desc.id] = factory
                d[desc.id] = desc
            }
        }
        factories = f
        descriptors = d
        loadedFactories = loadedFactories.filter { name, _ in summaries.contains { $0.name == name && $0.status == .loaded } }
    }

    // MARK: Listing

    /// Every plugin with its status and providers, built-ins first, then by manifest file.
    public func plugins() -> [PluginSummary] {
        let b = builtins.keys.sorted().map { name in
            PluginSummary(name: name, version: builtins[name]!.version, runtime: "builtin", manifestPath: "",
                          enabled: true, status: .loaded,
                          providers: descriptors.values.filter { $0.plugin == name }.sorted { $0.name < $1.name })
        }
        return b + summaries.map(withIsolationStatus)
    }

    /// One plugin by name.
    public func plugin(named name: String) throws -> PluginSummary {
        guard let p = plugins().first(where: { $0.name == name }) else {
            throw NvisyError.notFound("no plugin named \"\(name)\" in \(directory.path)")
        }
        return p
    }

    /// Every provider of every loaded plugin, by id.
    public func providers() -> [ProviderDescriptor] {
        descriptors.values.sorted { $0.id < $1.id }
    }

    /// The provider `plugin/name`, if it is loaded and enabled.
    public func provider(_ id: String) throws -> ProviderDescriptor {
        guard let d = descriptors[id] else { throw unknownProvider(id) }
        return d
    }

    private func unknownProvider(_ id: String) -> NvisyError {
        let plugin = String(id.split(separator: "/").first ?? "")
        if let s = summaries.first(where: { $0.name == plugin }) {
            switch s.status {
            case .disabled: return .notFound("provider \"\(id)\": plugin \"\(plugin)\" is disabled (nvisy plugins enable \(plugin))")
            case .failed: return .notFound("provider \"\(id)\": plugin \"\(plugin)\" failed to load: \(s.error ?? "")")
            case .loaded: break
            }
        }
        return .notFound("no provider \"\(id)\" (providers are named plugin/provider; see GET /api/v1/plugins)")
    }

    // MARK: Enabling

    /// Sets `enabled` in the plugin's manifest (rewriting that line only), then reloads.
    @discardableResult
    public func setEnabled(_ enabled: Bool, plugin name: String) async throws -> PluginSummary {
        let file: URL
        if let s = summaries.first(where: { $0.name == name }) {
            file = URL(fileURLWithPath: s.manifestPath)
        } else if builtins[name] != nil {
            throw NvisyError.conflict("plugin \"\(name)\" is built into the host and cannot be disabled")
        } else {
            throw NvisyError.notFound("no plugin named \"\(name)\" in \(directory.path)")
        }
        try PluginManifest.setEnabled(enabled, at: file)
        await reload()
        return try plugin(named: name)
    }

    // MARK: Instances

    /// The config with the manifest's defaults applied, checked against the provider's
    /// config schema; and the credentials checked against its credentials schema.
    /// Throws ``NvisyError`` (invalid input) with pointers `/config/...` and `/credentials/...`.
    public func validate(_ id: String, config: JSONValue, credentials: JSONValue? = nil) throws -> JSONValue {
        let d = try provider(id)
        let effective = Self.merge(defaults: d.defaults, config: config)
        var errors = JSONSchemaValidator(schema: d.configSchema).errors(in: effective, pointerPrefix: "/config")
        if let schema = d.credentialsSchema {
            errors += JSONSchemaValidator(schema: schema).errors(in: credentials ?? [:], pointerPrefix: "/credentials")
        }
        if !errors.isEmpty {
            let list = errors.map { "\($0.pointer): \($0.message)" }.joined(separator: "; ")
            throw NvisyError.invalidInput("\(id): \(list)", fields: errors)
        }
        return effective
    }

    static func merge(defaults: JSONValue, config: JSONValue) -> JSONValue {
        guard case .object(var base) = defaults, case .object(let over) = config else {
            return config == .null ? defaults : config
        }
        for (k, v) in over { base[k] = v }
        return .object(base)
    }

    /// A new instance of `id` (`plugin/provider`). Validates the config first.
    public func makeInstance(_ id: String, config: JSONValue, credentials: JSONValue? = nil,
                             options: ProviderCallOptions? = nil) async throws -> any ProviderInstance {
        let effective = try validate(id, config: config, credentials: credentials)
        guard let factory = factories[id] else { throw unknownProvider(id) }
        return try await factory.makeInstance(config: effective, credentials: credentials ?? [:],
                                              options: options ?? defaultCallOptions)
    }

    private func make<T>(_ id: String, _ kind: ProviderKind, _ type: T.Type, config: JSONValue, credentials: JSONValue?,
                         options: ProviderCallOptions?) async throws -> T {
        let d = try provider(id)
        guard d.can(kind) else {
            throw NvisyError.invalidInput("\(id) is a \(d.kinds.map(\.rawValue).joined(separator: "/")) provider, not a \(kind.rawValue)")
        }
        let instance = try await makeInstance(id, config: config, credentials: credentials, options: options)
        guard let typed = instance as? T else {
            await instance.close()
            throw NvisyError.internal("\(id): its runtime made no \(kind.rawValue) instance")
        }
        return typed
    }

    public func makeSource(_ id: String, config: JSONValue, credentials: JSONValue? = nil,
                           options: ProviderCallOptions? = nil) async throws -> any SourceInstance {
        try await make(id, .source, (any SourceInstance).self, config: config, credentials: credentials, options: options)
    }

    public func makeSink(_ id: String, config: JSONValue, credentials: JSONValue? = nil,
                         options: ProviderCallOptions? = nil) async throws -> any SinkInstance {
        try await make(id, .sink, (any SinkInstance).self, config: config, credentials: credentials, options: options)
    }

    public func makeTransform(_ id: String, config: JSONValue, credentials: JSONValue? = nil,
                              options: ProviderCallOptions? = nil) async throws -> any TransformInstance {
        try await make(id, .transform, (any TransformInstance).self, config: config, credentials: credentials, options: options)
    }

    public func makeEmbedding(_ id: String, config: JSONValue, credentials: JSONValue? = nil,
                              options: ProviderCallOptions? = nil) async throws -> any EmbeddingInstance {
        try await make(id, .embedding, (any EmbeddingInstance).self, config: config, credentials: credentials, options: options)
    }

    public func makeCompletion(_ id: String, config: JSONValue, credentials: JSONValue? = nil,
                               options: ProviderCallOptions? = nil) async throws -> any CompletionInstance {
        try await make(id, .completion, (any CompletionInstance).self, config: config, credentials: credentials, options: options)
    }
}

/// The same actor under the name the design uses for "the provider registry".
public typealias ProviderRegistry = PluginHost
