import Foundation
import Logging
import NvisyCore
import NvisyPlugins
@testable import NvisyRuntime
import NvisyTestSupport

/// The real plugins (dlopen'd from next to the test binary, where `swift build` puts them),
/// loaded from a plugins.d made of the shipped Swift manifests plus a disabled one.
enum RuntimeTestSupport {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let logger: Logger = {
        var l = Logger(label: "nvisy.runtime.tests")
        l.logLevel = ProcessInfo.processInfo.environment["NVISY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return l
    }()

    private static let shared = HostBox()

    /// One registry per test process: filesystem, formats, postgres (shipped manifests) and a disabled `trivial`.
    static func host() async throws -> PluginHost { try await shared.get() }

    private actor HostBox {
        var host: PluginHost?
        func get() async throws -> PluginHost {
            if let host { return host }
            let dir = try tempDirectory("plugins.d")
            for name in ["filesystem", "formats", "postgres"] {
                try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("plugins.d/\(name).toml"),
                                                 to: dir.appendingPathComponent("\(name).toml"))
            }
            try Data("name = \"trivial\"\nruntime = \"swift\"\nlibrary = \"libNvisyTrivialPlugin.so\"\nenabled = false\n".utf8)
                .write(to: dir.appendingPathComponent("trivial.toml"))
            let search = [PluginLibraryResolver.executableDirectory ?? URL(fileURLWithPath: ".build/debug")]
            let h = PluginHost(directory: dir, librarySearchPath: search, logger: logger)
            let report = await h.reload()
            for p in report.plugins where p.status == .failed { throw NvisyError.internal("plugin \(p.name) failed: \(p.error ?? "")") }
            host = h
            return h
        }
    }

    /// A fresh private temporary directory (reachable by the postgres user, for COPY-free tests).
    static func tempDirectory(_ name: String) throws -> URL {
        TestPostgres.temporaryDirectory("nvisy-rt-\(name)")
    }
}

/// A small deterministic random generator for property tests (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
