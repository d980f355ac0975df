import ArgumentParser
import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyServer

/// `nvisy plugins list|enable|disable`: what plugins.d holds, and switching plugins on and off.
/// A running host picks up enable/disable on `kill -HUP` or `POST /api/v1/plugins/reload`.
struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "List, enable or disable provider plugins.",
        subcommands: [List.self, Enable.self, Disable.self,
                       PluginsStatusCommand.self, PluginsReloadCommand.self, PluginsNewCommand.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load plugins.d and show each plugin and provider.")
        @OptionGroup var options: ServerOptions
        @Flag(help: "Print JSON instead of a table") var json = false

        func run() async throws {
            let host = try await PluginsCommand.host(options)
            let plugins = await host.plugins()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(plugins), as: UTF8.self))
                return
            }
            for plugin in plugins {
                print("\(plugin.name)\t\(plugin.status.rawValue)\t\(plugin.runtime ?? "-")\t\(plugin.version ?? "-")\t\(plugin.manifestPath)")
                if let error = plugin.error { print("  error: \(error)") }
                if plugin.isolation == .process {
                    print("  isolation: process\tpid \(plugin.childPid.map(String.init) ?? "-")\trestarts \(plugin.restarts ?? 0)\(plugin.lastCrash.map { "\tlast crash: \($0)" } ?? "")")
                }
                for provider in plugin.providers {
                    print("  \(provider.id)\t\(provider.kinds.map(\.rawValue).joined(separator: ","))\t\(provider.dataType.rawValue)")
                }
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set enabled = true in a plugin's manifest.")
        @Argument(help: "The plugin's name") var name: String
        @OptionGroup var options: ServerOptions
        func run() async throws { try await PluginsCommand.set(true, name, options) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set enabled = false in a plugin's manifest.")
        @Argument(help: "The plugin's name") var name: String
        @OptionGroup var options: ServerOptions
        func run() async throws { try await PluginsCommand.set(false, name, options) }
    }

    static func host(_ options: ServerOptions) async throws -> PluginHost {
        let config = try options.load()
        var logger = Logger(label: "nvisy")
        logger.logLevel = .error
        let host = Bootstrap.makePluginHost(config, logger: logger)
        await WorkspaceProviders.register(on: host, store: nil)
        await host.reload()
        return host
    }

    static func set(_ enabled: Bool, _ name: String, _ options: ServerOptions) async throws {
        let host = try await host(options)
        let summary = try await host.setEnabled(enabled, plugin: name)
        print("\(summary.name): \(summary.status.rawValue) (\(summary.manifestPath)); a running nvisy picks this up on SIGHUP or POST /api/v1/plugins/reload")
    }
}
