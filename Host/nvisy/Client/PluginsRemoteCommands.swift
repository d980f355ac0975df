import ArgumentParser
import Foundation
import NvisyCore

/// `nvisy plugins status`: the plugins a running server has loaded, from `GET /api/v1/plugins`
/// (where `nvisy plugins list` reads the local plugins.d).
struct PluginsStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The plugins a running server has loaded, with their providers.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let page = try await options.client().get("/api/v1/plugins")
        if options.json { try Output.json(page); return }
        let items = Output.items(page)
        var rows: [[String]] = []
        for plugin in items {
            rows.append([Output.text(plugin, "name"), Output.text(plugin, "status"), Output.text(plugin, "runtime"), Output.text(plugin, "version"),
                         Output.text(plugin, "error")])
            for provider in plugin["providers"]?.arrayValue ?? [] {
                rows.append(["  " + Output.text(provider, "id"), "", Output.text(provider, "kinds"), Output.text(provider, "dataType"), ""])
            }
        }
        print(Output.render(header: ["PLUGIN / PROVIDER", "STATUS", "RUNTIME / KINDS", "VERSION / DATA", "ERROR"], rows: rows), terminator: "")
    }
}

/// `nvisy plugins reload`: asks a running server to rescan plugins.d (instance admin).
struct PluginsReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Ask a running server to rescan plugins.d (instance admin only).")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let page = try await options.client().call(.POST, "/api/v1/plugins/reload") ?? .null
        if options.json { try Output.json(page); return }
        // The answer: {added, removed, failed, plugins}.
        print("added: \(Output.text(page, "added")); removed: \(Output.text(page, "removed")); failed: \(Output.text(page, "failed"))")
        for plugin in page["plugins"]?.arrayValue ?? [] {
            print("\(Output.text(plugin, "name"))\t\(Output.text(plugin, "status"))" + (plugin["error"].map { "\t\(Output.describe($0))" } ?? ""))
        }
    }
}
