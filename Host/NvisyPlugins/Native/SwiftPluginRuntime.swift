import Foundation
import NvisyCore
import NvisyPluginABI

#if canImport(Glibc)
import Glibc
#endif

/// Loads `runtime = "swift"` plugins: shared libraries that export
/// `nvisy_plugin_entry` (PluginABI/include/nvisy_plugin.h), usually built with
/// NvisyPluginKit.
///
/// Libraries are opened with `RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE` and never
/// closed (unmapping a Swift library breaks the host's dynamic casts). Loading the
/// same path again answers the already-loaded plugin; to load a new build, give it a
/// new file name.
public final class SwiftPluginRuntime: PluginRuntime, @unchecked Sendable {
    public let name = "swift"
    public let resolver: PluginLibraryResolver
    private let lock = NSLock()
    private var loaded: [String: UnsafePointer<nvisy_plugin>] = [:]

    public init(resolver: PluginLibraryResolver) {
        self.resolver = resolver
    }

    public func load(_ manifest: PluginManifest) async throws -> LoadedPlugin {
        guard let library = manifest.library else { throw NvisyError.invalidInput("`library` is missing") }
        let dir = manifest.path.deletingLastPathComponent()
        guard let url = resolver.resolve(library, manifestDirectory: dir) else {
            let tried = resolver.candidates(for: library, manifestDirectory: dir).map(\.path).joined(separator: ", ")
            throw NvisyError.notFound(
                "library \"\(library)\" not found (looked in: \(tried)); build it (`swift build`) or set NVISY_PLUGIN_PATH")
        }
        let plugin = try open(url)
        return try describe(plugin, manifest: manifest, path: url.path)
    }

    private func open(_ url: URL) throws -> UnsafePointer<nvisy_plugin> {
        let path = url.path
        if let p = lock.withLock({ loaded[path] }) { return p }
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw NvisyError.invalidInput("cannot load \(path): \(why)")
        }
        // Never dlclose: see the type's documentation.
        guard let sym = dlsym(handle, NVISY_PLUGIN_ENTRY_SYMBOL) else {
            throw NvisyError.invalidInput(
                "\(path) has no `\(NVISY_PLUGIN_ENTRY_SYMBOL)` symbol: not an nvisy plugin (export one with NvisyPluginKit's `export`)")
        }
        let entry = unsafeBitCast(sym, to: nvisy_plugin_entry_fn.self)
        guard let descriptor = entry(HostAPI.table) else {
            throw NvisyError.invalidInput("\(path): `\(NVISY_PLUGIN_ENTRY_SYMBOL)` returned no plugin descriptor (see the plugin's log)")
        }
        // Read only the major version before trusting anything else in the struct.
        let major = UnsafeRawPointer(descriptor).load(as: UInt32.self)
        guard major == UInt32(NVISY_ABI_MAJOR) else {
            throw NvisyError.invalidInput(
                "\(path) was built for nvisy plugin ABI \(major).x but this host speaks ABI \(NVISY_ABI_MAJOR).\(NVISY_ABI_MINOR); rebuild the plugin against this host's PluginABI")
        }
        let minor = descriptor.pointee.abi_minor
        guard minor <= UInt32(NVISY_ABI_MINOR) else {
            throw NvisyError.invalidInput(
                "\(path) needs nvisy plugin ABI \(major).\(minor) but this host speaks \(NVISY_ABI_MAJOR).\(NVISY_ABI_MINOR); update the host")
        }
        lock.withLock { loaded[path] = descriptor }
        return descriptor
    }

    private func describe(_ plugin: UnsafePointer<nvisy_plugin>, manifest: PluginManifest, path: String) throws -> LoadedPlugin {
        let p = plugin.pointee
        let pluginName = p.name.map { String(cString: $0) } ?? ""
        guard pluginName == manifest.name else {
            throw NvisyError.invalidInput("\(path) is the plugin \"\(pluginName)\", but the manifest says name = \"\(manifest.name)\"")
        }
        var factories: [any ProviderFactory] = []
        var seen: Set<String> = []
        for i in 0..<p.provider_count {
            guard let base = p.providers else { break }
            let ref = ProviderRef(pointer: base + i)
            let d = ref.p
            guard let cname = d.name else { throw NvisyError.invalidInput("\(path): provider #\(i) has no name") }
            let name = String(cString: cname)
            guard seen.insert(name).inserted else {
                throw NvisyError.conflict("\(path): duplicate provider name \"\(name)\" in plugin \"\(pluginName)\"")
            }
            guard let kinds = ProviderKind.kinds(abi: d.kinds) else {
                throw NvisyError.invalidInput("\(path): provider \"\(name)\" has no known kind (flags \(d.kinds)); does it conform to one of the provider protocols?")
            }
            guard let dataType = ProviderDataType(abi: d.data_type), let input = ProviderDataType(abi: d.input_data_type) else {
                throw NvisyError.invalidInput("\(path): provider \"\(name)\" has an unknown data type")
            }
            var needed: [(String, Bool)] = [("create", d.create != nil), ("destroy", d.destroy != nil)]
            for kind in kinds { switch kind {
            case .source: needed += [("read", d.read != nil), ("next", d.next != nil), ("close_cursor", d.close_cursor != nil)]
            case .transform: needed += [("transform", d.transform != nil), ("next", d.next != nil), ("close_cursor", d.close_cursor != nil)]
            case .sink: needed += [("write", d.write != nil)]
            case .embedding: needed += [("embed", d.embed != nil)]
            case .completion: needed += [("complete", d.complete != nil)]
            } }
            if let gap = needed.first(where: { !$0.1 }) {
                throw NvisyError.invalidInput("\(path): provider \"\(name)\" has no `\(gap.0)` function")
            }
            let configSchema = try schema(d.config_schema, what: "config schema of \"\(name)\"", path: path) ?? ["type": "object"]
            let credentialsSchema = try schema(d.credentials_schema, what: "credentials schema of \"\(name)\"", path: path)
            let descriptor = ProviderDescriptor(
                plugin: pluginName, name: name, description: d.description.map { String(cString: $0) } ?? "",
                kinds: kinds, dataType: dataType, inputDataType: input,
                configSchema: configSchema, credentialsSchema: credentialsSchema)
            factories.append(NativeProviderFactory(descriptor: descriptor, provider: ref))
        }
        return LoadedPlugin(version: p.version.map { String(cString: $0) } ?? "", location: path, providers: factories)
    }

    private func schema(_ text: UnsafePointer<CChar>?, what: String, path: String) throws -> JSONValue? {
        guard let text else { return nil }
        let data = Data(String(cString: text).utf8)
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: data), value.objectValue != nil else {
            throw NvisyError.invalidInput("\(path): the \(what) is not a JSON object")
        }
        return value
    }
}
