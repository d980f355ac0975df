import Foundation
import NvisyCore
import NvisyTestSupport
import Testing

/// `nvisy plugins new swift`: the scaffold builds on its own against this checkout's
/// NvisyPluginKit, passes its generated test, and its manifest loads the built library.
@Suite("swift provider scaffold", .serialized)
struct SwiftScaffoldEndToEndTests {
    @Test func aScaffoldedSwiftProviderBuildsPassesItsTestAndLoads() async throws {
        let scaffolds = TestPostgres.temporaryDirectory("swift-scaffold")
        let pluginsDir = TestPostgres.temporaryDirectory("swift-scaffold-plugins")
        // The scaffold's own .build is ≈ 550 MB: never leave it behind.
        defer {
            try? FileManager.default.removeItem(at: scaffolds)
            try? FileManager.default.removeItem(at: pluginsDir)
        }
        let made = try await NvisyBinary.run(["plugins", "new", "swift", "shout", "--kind", "transform", "--dir", scaffolds.path,
                                              "--repository", FileManager.default.currentDirectoryPath])
        #expect(made.status == 0, "\(made.output)")
        let folder = scaffolds.appendingPathComponent("shout")
        try #require(FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path), "\(made.output)")

        // Its own package: SwiftPM resolves nvisy by path (the mirrored dependencies) and builds
        // only NvisyPluginKit and the plugin. Generous timeouts: this is a cold build on 2 cores.
        let swift = try Self.swiftExecutable()
        let build = try await ChildProcess.run(swift, arguments: ["build", "--package-path", folder.path],
                                               timeout: .seconds(1500), purpose: "swift build of the scaffold")
        #expect(build.status == 0, "\(build.output.suffix(4000))")
        let test = try await ChildProcess.run(swift, arguments: ["test", "--package-path", folder.path],
                                              timeout: .seconds(1500), purpose: "swift test of the scaffold")
        #expect(test.status == 0, "\(test.output.suffix(4000))")
        #expect(test.output.contains("passed"), "\(test.output.suffix(2000))")

        // Its manifest names the built library: a host reading a plugins.d with it loads the provider.
        try FileManager.default.copyItem(at: folder.appendingPathComponent("shout.toml"), to: pluginsDir.appendingPathComponent("shout.toml"))
        let listed = try await NvisyBinary.run(["plugins", "list", "--json", "--plugins-dir", pluginsDir.path])
        #expect(listed.status == 0, "\(listed.output)")
        let plugins = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]] ?? []
        let shout = plugins.first { $0["name"] as? String == "shout" }
        #expect(shout?["status"] as? String == "loaded", "\(listed.output)")
        let providers = shout?["providers"] as? [[String: Any]] ?? []
        #expect(providers.first?["id"] as? String == "shout/upper", "\(listed.output)")
    }

    /// The `swift` driver that built these tests (PATH may differ under CI).
    static func swiftExecutable() throws -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/swift"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw NvisyError.unavailable("no swift on PATH")
    }
}
