import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPlugins
import NvisyTestSupport
import Testing

@testable import NvisyServer

/// GET /api/v1/plugins with an `isolation = "process"` plugin whose child segfaults: the app keeps
/// answering during the crash, and the listing shows the mode, the child's pid, restarts and why it died.
@Suite("Plugin isolation in the HTTP app")
struct PluginIsolationAPITests {
    @Test("the app answers GET /api/v1/plugins while an isolated plugin crashes, and reports the crash")
    func crashWhileServing() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-isolation-api")
        defer { try? FileManager.default.removeItem(at: dir) }
        try "name = \"hazards\"\nruntime = \"swift\"\nlibrary = \"libNvisyFixtureHazards.so\"\nisolation = \"process\"\n"
            .write(to: dir.appendingPathComponent("hazards.toml"), atomically: true, encoding: .utf8)
        let host = PluginHost(directory: dir, logger: TestPostgres.logger)
        let report = await host.reload()
        #expect(report.failed.isEmpty, "\(report.plugins.compactMap(\.error))")
        let fixture = try await APIFixture.make("isolation")
        try await fixture.app(plugins: host).test(.router) { client in
            let user = try await client.signup("admin@example.com")
            func hazards() async throws -> [String: Any] {
                let list = try await client.call(.get, "/api/v1/plugins", token: user.token)
                #expect(list.status == .ok)
                let items = list.body["items"] as? [[String: Any]] ?? []
                return try #require(items.first { $0["name"] as? String == "hazards" })
            }
            let before = try await hazards()
            #expect(before["isolation"] as? String == "process")
            let firstPid = try #require(before["childPid"] as? Int)
            #expect(firstPid != Int(getpid()))
            #expect(before["restarts"] as? Int == 0)
            #expect(before["lastCrash"] == nil)

            // The sink segfaults on the 3rd item its process sees: the second write kills the child.
            let sink = try await host.makeSink("hazards/crash", config: ["crashAt": 3])
            try await sink.write([ProviderItem(), ProviderItem()])
            let crash = Task { try await sink.write([ProviderItem(), ProviderItem()]) }
            // The app keeps answering throughout.
            for _ in 0..<20 { _ = try await hazards() }
            let outcome = await crash.result
            #expect(throws: NvisyError.self) { try outcome.get() }
            let after = try await hazards()
            #expect((after["lastCrash"] as? String)?.contains("SIGSEGV") == true, "\(after)")
            #expect(after["childPid"] == nil)
            #expect(after["restarts"] as? Int == 0)

            // The retried write runs in a new child (which counts its items from zero).
            try await sink.write([ProviderItem(), ProviderItem()])
            let restarted = try await hazards()
            #expect(restarted["restarts"] as? Int == 1)
            let newPid = try #require(restarted["childPid"] as? Int)
            #expect(newPid != firstPid)
        }
        await fixture.stop()
    }
}
