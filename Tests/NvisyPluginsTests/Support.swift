import Foundation
import Logging
import NvisyCore
@testable import NvisyPlugins

/// Where `swift build`/`swift test` put the plugin libraries: next to the test binary.
enum TestPlugins {
    static let libraryDirectory: URL = PluginLibraryResolver.executableDirectory ?? URL(fileURLWithPath: ".build/debug")

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let logger: Logger = {
        var l = Logger(label: "nvisy.plugins.tests")
        l.logLevel = .warning
        return l
    }()

    static func library(_ product: String) -> URL {
        libraryDirectory.appendingPathComponent("lib\(product).so")
    }

    /// A fresh temporary directory.
    static func tempDirectory(_ name: String = "plugins") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A plugins.d in a temp dir with the given manifests (file name → TOML text).
    static func pluginsDirectory(_ manifests: [String: String]) throws -> URL {
        let dir = try tempDirectory()
        for (name, text) in manifests {
            try Data(text.utf8).write(to: dir.appendingPathComponent(name))
        }
        return dir
    }

    static func host(_ dir: URL, options: ProviderCallOptions = .default) -> PluginHost {
        PluginHost(directory: dir, librarySearchPath: [libraryDirectory], callOptions: options, logger: logger)
    }

    static func manifest(name: String, library: String, enabled: Bool = true, extra: String = "") -> String {
        """
        # test manifest
        name = "\(name)"
        runtime = "swift"
        library = "\(library)"
        enabled = \(enabled)
        \(extra)
        """
    }

    static let trivial = manifest(name: "trivial", library: "libNvisyTrivialPlugin.so")
}

extension ProviderItem {
    var path: String? { (try? metadataValue())?["path"]?.stringValue }
}
