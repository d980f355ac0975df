import Foundation
import Logging
import NvisyCore

/// Owns the plugin-host child of one `isolation = "process"` plugin: starts it on demand,
/// restarts it after a crash (waiting with exponential backoff when it keeps crashing), and
/// counts restarts and the last crash reason for `GET /api/v1/plugins`.
///
/// `@unchecked Sendable`: all mutable state is guarded by `lock`.
final class IsolatedPluginSupervisor: @unchecked Sendable {
    let manifest: PluginManifest
    /// Swift: the resolved library; Python: nil.
    let library: String?
    /// Python: the host's virtual environment.
    let venv: URL?
    let settings: IsolationSettings
    let logger: Logger
    private let lock = NSLock()
    private var child: PluginChildProcess?
    private var starting: Task<PluginChildProcess, any Error>?
    private var generation = 0
    private var restarts = 0
    private var crashesInARow = 0
    private var lastCrash: String?
    private var lastCrashAt: ContinuousClock.Instant?

    init(manifest: PluginManifest, library: String?, venv: URL?, settings: IsolationSettings, logger: Logger) {
        self.manifest = manifest
        self.library = library
        self.venv = venv
        self.settings = settings
        self.logger = logger
    }

    deinit {
        lock.withLock { child }?.kill(reason: "the plugin was unloaded")
    }

    var status: IsolationStatus {
        lock.withLock {
            IsolationStatus(childPid: child.flatMap { $0.isAlive ? Int($0.pid) : nil }, restarts: restarts, lastCrash: lastCrash)
        }
    }

    /// The running child, started (or restarted) when there is none.
    func current() async throws -> PluginChildProcess {
        if let c = lock.withLock({ child }), c.isAlive { return c }
        let task: Task<PluginChildProcess, any Error> = lock.withLock {
            if let starting { return starting }
            let t = Task { try await self.start() }
            starting = t
            return t
        }
        return try await task.value
    }

    private func start() async throws -> PluginChildProcess {
        defer { lock.withLock { starting = nil } }
        let (wait, gen) = lock.withLock { () -> (Duration, Int) in
            generation += 1
            guard crashesInARow > 0 else { return (.zero, generation) }
            let factor = 1 << min(crashesInARow - 1, 16)
            return (min(settings.restartBackoff * factor, settings.maxRestartBackoff), generation)
        }
        if wait > .zero { try await Task.sleep(for: wait) }
        let memory = manifest.memoryLimitMB ?? settings.defaultMemoryLimitMB
        var args = ["plugin-host", "--manifest", manifest.path.path, "--memory-limit-mb", "\(memory)"]
        if let library { args += ["--library", library] }
        if let venv { args += ["--venv", venv.path] }
        if let cpu = manifest.cpuLimitSeconds { args += ["--cpu-limit-seconds", "\(cpu)"] }
        if let user = settings.user { args += ["--user", user] }
        let c = try PluginChildProcess(executable: settings.executable.path, arguments: args,
                                       environment: IsolationSettings.childEnvironment, plugin: manifest.name,
                                       generation: gen) { [weak self] child, reason in self?.exited(child, reason) }
        lock.withLock {
            if child != nil { restarts += 1 }
            child = c
        }
        logger.info("plugin process started", metadata: ["plugin": "\(manifest.name)", "pid": "\(c.pid)"])
        return c
    }

    private func exited(_ c: PluginChildProcess, _ reason: String) {
        lock.withLock {
            // A child that ran a while before dying starts the backoff over.
            crashesInARow = ContinuousClock.now - c.startedAt > .seconds(30) ? 1 : crashesInARow + 1
            lastCrash = reason
            lastCrashAt = .now
        }
        logger.warning("plugin process died", metadata: ["plugin": "\(manifest.name)", "pid": "\(c.pid)", "reason": "\(reason)"])
    }
}
