import Foundation
import NvisyCore
import Testing
@testable import NvisyPlugins

@Suite("Reload and enable/disable")
struct ReloadTests {
    @Test("reload picks up a new manifest and drops a removed one; live instances keep working")
    func reload() async throws {
        let dir = try TestPlugins.pluginsDirectory([
            "filesystem.toml": TestPlugins.manifest(name: "filesystem", library: "libNvisyFilesystemPlugin.so"),
        ])
        let host = TestPlugins.host(dir)
        var report = await host.reload()
        #expect(report.added == ["filesystem"])
        #expect(await host.providers().map(\.id) == ["filesystem/files"])

        try Data(TestPlugins.trivial.utf8).write(to: dir.appendingPathComponent("trivial.toml"))
        report = await host.reload()
        #expect(report.added == ["trivial"] && report.removed.isEmpty)
        #expect(await host.providers().map(\.id).contains("trivial/counter"))

        let source = try await host.makeSource("trivial/counter", config: ["count": 5])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("trivial.toml"))
        report = await host.reload()
        #expect(report.removed == ["trivial"])
        #expect(await host.providers().map(\.id) == ["filesystem/files"])
        await #expect(throws: NvisyError.self) { _ = try await host.makeSource("trivial/counter", config: ["count": 1]) }
        // The instance made before the reload still runs.
        var n = 0
        for try await b in source.read() { n += b.count }
        #expect(n == 5)
        await source.close()
    }

    @Test("disable and enable rewrite only the manifest's `enabled` line")
    func enableDisable() async throws {
        let text = TestPlugins.manifest(name: "trivial", library: "libNvisyTrivialPlugin.so", extra: "# keep me\n[defaults.counter]\ncount = 2")
        let dir = try TestPlugins.pluginsDirectory(["trivial.toml": text])
        let host = TestPlugins.host(dir)
        await host.reload()
        let disabled = try await host.setEnabled(false, plugin: "trivial")
        #expect(disabled.status == .disabled && !disabled.enabled)
        #expect(await host.providers().isEmpty)
        let rewritten = try String(contentsOf: dir.appendingPathComponent("trivial.toml"), encoding: .utf8)
        #expect(rewritten.contains("enabled = false") && rewritten.contains("# keep me") && rewritten.contains("count = 2"))
        do {
            _ = try await host.makeSource("trivial/counter", config: [:])
            Issue.record("a disabled plugin's providers must be unavailable")
        } catch let e as NvisyError {
            #expect(e.message.contains("is disabled"), "\(e.message)")
        }

        let enabled = try await host.setEnabled(true, plugin: "trivial")
        #expect(enabled.status == .loaded)
        // The manifest default applies under the config.
        let source = try await host.makeSource("trivial/counter", config: [:])
        var n = 0
        for try await b in source.read() { n += b.count }
        #expect(n == 2)
        await #expect(throws: NvisyError.self) { try await host.setEnabled(true, plugin: "nope") }
    }

    @Test("manifest `enabled` is inserted when missing")
    func insertEnabled() throws {
        let dir = try TestPlugins.tempDirectory()
        let file = dir.appendingPathComponent("x.toml")
        try Data("name = \"x\"\nruntime = \"swift\"\nlibrary = \"a.so\"\n".utf8).write(to: file)
        try PluginManifest.setEnabled(false, at: file)
        let m = try PluginManifest.load(from: file)
        #expect(m.enabled == false && m.name == "x" && m.library == "a.so")
    }
}
