import Logging
import NvisyPlugins
import ServiceLifecycle
import UnixSignals

/// Reloads plugins.d on SIGHUP, the operator's usual "re-read your configuration" signal.
public struct PluginReloadService: Service {
    let host: PluginHost
    let logger: Logger

    public init(host: PluginHost, logger: Logger) {
        self.host = host
        self.logger = logger
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            let report = await host.reload()
            logger.notice("plugins reloaded on SIGHUP", metadata: [
                "loaded": "\(report.plugins.filter { $0.status == .loaded }.count)",
                "failed": "\(report.failed)", "added": "\(report.added)", "removed": "\(report.removed)",
            ])
        }
    }
}
