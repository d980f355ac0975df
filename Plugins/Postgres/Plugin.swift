import NvisyPluginKit

@_cdecl("nvisy_plugin_entry")
public func nvisyPluginEntry(_ host: UnsafeRawPointer?) -> UnsafeRawPointer? {
    export(host, plugin: "postgres", version: "0.1.0", Table.self)
}
