import ArgumentParser
import Foundation
import NvisyCore

/// The `nvisy` command: the server and its operator tools in one binary.
@main
struct Nvisy: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "nvisy",
        abstract: "A plugin-host server for data and AI pipelines.",
        version: version,
        subcommands: [ServeCommand.self, WorkerCommand.self, MigrateCommand.self, KeysCommand.self, PluginsCommand.self,
                      LoginCommand.self, LogoutCommand.self, WorkspacesCommand.self, ConnectionsCommand.self,
                      PipelinesCommand.self, RunsCommand.self, FilesCommand.self, PluginHostCommand.self],
        defaultSubcommand: nil
    )

    /// Runs the command; an ``NvisyError`` becomes one line on stderr and exit code 1, never a trace.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as NvisyError {
            FileHandle.standardError.write(Data("nvisy: \(error.message)\n".utf8))
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}
