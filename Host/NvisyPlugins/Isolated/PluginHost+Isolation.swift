import Foundation
import NvisyCore

extension PluginHost {
    /// Sets how isolated plugins' children are started; takes effect for children started later.
    public func setIsolationSettings(_ settings: IsolationSettings) {
        isolationSettings = settings
    }

    /// Loads an `isolation = "process"` plugin: starts (or keeps) its child, asks it what the
    /// plugin provides, and answers factories whose instances live in that child.
    func loadIsolated(_ manifest: PluginManifest) async throws -> LoadedPlugin {
        var libraryPath: String?
        var venv: URL?
        switch manifest.runtime {
        case "swift":
            guard let library = manifest.library else { throw NvisyError.invalidInput("`library` is missing") }
            let dir = manifest.path.deletingLastPathComponent()
            guard let url = resolver.resolve(library, manifestDirectory: dir) else {
                let tried = resolver.candidates(for: library, manifestDirectory: dir).map(\.path).joined(separator: ", ")
                throw NvisyError.notFound(
                    "library \"\(library)\" not found (looked in: \(tried)); build it (`swift build`) or set NVISY_PLUGIN_PATH")
            }
            libraryPath = url.path
        case "python":
            guard let python = runtimes["python"] as? PythonRuntime else {
                throw NvisyError.invalidInput("no \"python\" runtime in this host")
            }
            venv = python.venv
        default:
            throw NvisyError.invalidInput("no \"\(manifest.runtime)\" runtime in this host")
        }
        guard FileManager.default.isExecutableFile(atPath: isolationSettings.executable.path) else {
            throw NvisyError.notFound("the plugin host executable \(isolationSettings.executable.path) is missing; build `nvisy` (swift build --product nvisy)")
        }
        let supervisor: IsolatedPluginSupervisor
        if let s = supervisors[manifest.name], s.manifest == manifest, s.library == libraryPath, s.venv == venv,
           s.settings == isolationSettings {
            supervisor = s
        } else {
            supervisor = IsolatedPluginSupervisor(manifest: manifest, library: libraryPath, venv: venv, settings: isolationSettings,
                                                  logger: logger)
        }
        let child = try await supervisor.current()
        let answer = try await child.call(.describe, timeout: .seconds(30))
        let described = try JSONDecoder().decode(DescribeAnswer.self, from: answer.body)
        supervisors[manifest.name] = supervisor
        return LoadedPlugin(version: described.version, location: described.location ?? libraryPath,
                            providers: described.providers.map { IsolatedProviderFactory(descriptor: $0, supervisor: supervisor) })
    }

    /// The summary with its child's live state (pid, restarts, last crash) when it is isolated.
    func withIsolationStatus(_ summary: PluginSummary) -> PluginSummary {
        guard summary.isolation == .process, summary.status == .loaded, let s = supervisors[summary.name] else { return summary }
        var out = summary
        let status = s.status
        out.childPid = status.childPid
        out.restarts = status.restarts
        out.lastCrash = status.lastCrash
        return out
    }
}
