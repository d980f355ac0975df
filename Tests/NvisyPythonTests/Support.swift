import Foundation
import Logging
import NvisyCore
import NvisyPlugins

/// Paths and hosts for the Python runtime tests. One interpreter serves the whole process.
enum PyTest {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = repoRoot.appendingPathComponent("python/tests/fixtures")
    static let venv: URL = {
        if let v = ProcessInfo.processInfo.environment["NVISY_VENV"], !v.isEmpty { return URL(fileURLWithPath: v) }
        return repoRoot.appendingPathComponent(".venv")
    }()
    static let python = venv.appendingPathComponent("bin/python").path

    static let logger: Logger = {
        var l = Logger(label: "nvisy.python.tests")
        l.logLevel = .warning
        return l
    }()

    static let runtime = PythonRuntime(venv: venv, logger: logger)

    /// Where `swift build` puts the Swift plugin libraries: next to the test bundle.
    static let libraryDirectory: URL = PluginLibraryResolver.executableDirectory ?? repoRoot.appendingPathComponent(".build/debug")

    static func tempDirectory(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-py-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A plugins.d with the given manifests (file name → TOML).
    static func host(_ manifests: [String: String], timeout: Duration = .seconds(30)) async throws -> PluginHost {
        let dir = try tempDirectory("plugins")
        for (name, text) in manifests { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        let host = PluginHost(directory: dir, librarySearchPath: [libraryDirectory], runtimes: [runtime],
                              callOptions: ProviderCallOptions(timeout: timeout), logger: logger)
        await host.reload()
        return host
    }

    /// A host over the repository's own plugins.d (s3, documents, filesystem, ...).
    static func shippedHost() async -> PluginHost {
        let host = PluginHost(directory: repoRoot.appendingPathComponent("plugins.d").resolvingSymlinksInPath(), librarySearchPath: [libraryDirectory],
                              runtimes: [runtime], logger: logger)
        await host.reload()
        return host
    }

    static func manifest(_ name: String, module: String, library: String? = nil, extra: String = "") -> String {
        """
        name = "\(name)"
        runtime = "python"
        module = "\(module)"
        library = "\(library ?? fixtures.path)"
        enabled = true
        \(extra)
        """
    }

    static let fixturesManifest = manifest("fixtures", module: "nvisy_fixtures")
}

extension ProviderItem {
    var json: JSONValue { (try? metadataValue()) ?? .null }
}
