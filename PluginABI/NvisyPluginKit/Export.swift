import Foundation
import NvisyPluginABI

/// Builds the plugin descriptor the host asks for. Call it from your library's one
/// exported entry point — the whole export is one line:
///
/// ```swift
/// @_cdecl("nvisy_plugin_entry") public func entry(_ host: UnsafeRawPointer?) -> UnsafeRawPointer? { export(host, plugin: "hello", version: "0.1.0", Hello.self) }
/// ```
///
/// The descriptor is built once per process and lives for the life of the process.
public func export(_ host: UnsafeRawPointer?, plugin name: String, version: String,
                   _ providers: any Provider.Type...) -> UnsafeRawPointer? {
    PluginExport.descriptor(host: host, name: name, version: version, providers: providers)
}

enum PluginExport {
    nonisolated(unsafe) static var cached: UnsafeMutablePointer<nvisy_plugin>?
    static let lock = NSLock()

    static func descriptor(host: UnsafeRawPointer?, name: String, version: String,
                           providers: [any Provider.Type]) -> UnsafeRawPointer? {
        lock.lock()
        defer { lock.unlock() }
        if let host {
            let api = host.assumingMemoryBound(to: nvisy_host_api.self)
            // Only remember a table the kit understands.
            if api.pointee.abi_major == UInt32(NVISY_ABI_MAJOR) { Host.api = api }
        }
        Host.pluginName = name
        if let cached { return UnsafeRawPointer(cached) }

        let table = UnsafeMutablePointer<nvisy_provider>.allocate(capacity: max(providers.count, 1))
        for (i, type) in providers.enumerated() {
            (table + i).initialize(to: describe(type))
        }
        let plugin = UnsafeMutablePointer<nvisy_plugin>.allocate(capacity: 1)
        plugin.initialize(to: nvisy_plugin(
            abi_major: UInt32(NVISY_ABI_MAJOR), abi_minor: UInt32(NVISY_ABI_MINOR),
            name: UnsafePointer(strdup(name)), version: UnsafePointer(strdup(version)),
            providers: UnsafePointer(table), provider_count: providers.count))
        cached = plugin
        return UnsafeRawPointer(plugin)
    }

    static func describe(_ type: any Provider.Type) -> nvisy_provider {
        var p = nvisy_provider()
        p.name = UnsafePointer(strdup(type.name))
        p.description = UnsafePointer(strdup(type.description))
        p.data_type = type.dataType.rawValue
        p.input_data_type = type.dataType.rawValue
        p.config_schema = UnsafePointer(strdup(type.configSchema))
        p.credentials_schema = type.credentialsSchema.map { UnsafePointer(strdup($0)) }
        p.create = Thunks.create
        p.check = Thunks.check
        p.destroy = Thunks.destroy
        p.provider_context = Unmanaged.passRetained(ProviderBox(type)).toOpaque()
        var kinds: UInt32 = 0
        if type is any SourceProvider.Type {
            kinds |= UInt32(NVISY_KIND_SOURCE.rawValue)
            p.read = Thunks.read
        }
        if let t = type as? any TransformProvider.Type {
            kinds |= UInt32(NVISY_KIND_TRANSFORM.rawValue)
            p.input_data_type = t.inputDataType.rawValue
            p.transform = Thunks.transform
        }
        if p.read != nil || p.transform != nil {
            p.next = Thunks.next
            p.close_cursor = Thunks.closeCursor
        }
        if type is any SinkProvider.Type {
            kinds |= UInt32(NVISY_KIND_SINK.rawValue)
            p.write = Thunks.write
        }
        if type is any EmbeddingProvider.Type {
            kinds |= UInt32(NVISY_KIND_EMBEDDING.rawValue)
            p.embed = Thunks.embed
        }
        if type is any CompletionProvider.Type {
            kinds |= UInt32(NVISY_KIND_COMPLETION.rawValue)
            p.complete = Thunks.complete
        }
        p.kinds = kinds  // 0: the host refuses it with a clear message
        return p
    }
}
