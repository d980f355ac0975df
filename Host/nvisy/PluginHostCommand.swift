import ArgumentParser
import Foundation
import Logging
import NvisyPlugins

/// `nvisy plugin-host`: the child process that runs one `isolation = "process"` plugin.
/// Started by the host with its socket on fd 3 and shared memory on fd 4; not for people.
struct PluginHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-host",
        abstract: "Run one plugin in this process for an nvisy host (started by nvisy itself; fds 3 and 4 from the host).",
        shouldDisplay: false)

    @Option(help: "The plugin's manifest (plugins.d/<name>.toml)") var manifest: String
    @Option(help: "Swift plugins: the library the host resolved") var library: String?
    @Option(help: "Python plugins: the virtual environment") var venv: String?
    @Option(help: "Address-space cap in MiB (0: none)") var memoryLimitMb: Int = 0
    @Option(help: "CPU-time cap in seconds (0: none)") var cpuLimitSeconds: Int = 0
    @Option(help: "When started as root, run as this user") var user: String?

    func run() async throws {
        var logger = Logger(label: "nvisy.plugin-host")
        logger.logLevel = .warning
        let options = PluginChildServer.Options(manifest: URL(fileURLWithPath: manifest), library: library,
                                                venv: venv.map { URL(fileURLWithPath: $0) },
                                                memoryLimitMB: memoryLimitMb, cpuLimitSeconds: cpuLimitSeconds, user: user)
        await PluginChildServer.run(options, logger: logger)
    }
}
