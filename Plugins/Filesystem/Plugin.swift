import Foundation
import NvisyPluginKit

@_cdecl("nvisy_plugin_entry")
public func nvisyPluginEntry(_ host: UnsafeRawPointer?) -> UnsafeRawPointer? {
    export(host, plugin: "filesystem", version: "0.1.0", Files.self)
}
