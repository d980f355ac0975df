import NvisyPluginKit

@_cdecl("nvisy_plugin_entry")
public func nvisyPluginEntry(_ host: UnsafeRawPointer?) -> UnsafeRawPointer? {
    export(host, plugin: "formats", version: "0.1.0", CSV.self, JSONLines.self, JSONLinesEncode.self)
}
