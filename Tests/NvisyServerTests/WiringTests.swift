import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyNATS
import NvisyPlugins
import NvisyTestSupport
import Testing

@testable import NvisyServer

@Suite("NATS and plugins in the HTTP app")
struct WiringTests {
    private func app(_ dependencies: ApplicationDependencies) -> some ApplicationProtocol {
        let config = try! ConfigurationLoader(flags: [:], environment: [:]).load()
        return buildApplication(configuration: config, dependencies: dependencies, logger: TestPostgres.logger)
    }

    @Test("GET /health reports nats ok, then 503 naming nats while nats-server is down")
    func natsHealth() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-nats-health")
        defer { try? FileManager.default.removeItem(at: dir) }
        let nats = try await NATSRuntime.start(url: nil, storeDirectory: dir, logger: TestPostgres.logger)
        try await app(.init(healthChecks: [.nats(nats)])).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""nats":"ok""#))
            }
            await nats.embeddedServer?.kill()
            var status: HTTPResponse.Status = .ok
            for _ in 0..<50 where status == .ok {
                status = try await client.execute(uri: "/health", method: .get) { $0.status }
                if status == .ok { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == .serviceUnavailable)
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(String(buffer: response.body).contains(#""nats":"nats: disconnected"#))
            }
        }
        await nats.shutdown()
    }

    @Test("GET /api/v1/plugins lists plugins.d for signed-in users; POST reload is the instance admin's and picks up a new manifest")
    func pluginsRoutes() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-plugins-api")
        defer { try? FileManager.default.removeItem(at: dir) }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../plugins.d").standardized
        try FileManager.default.copyItem(at: repo.appendingPathComponent("filesystem.toml"), to: dir.appendingPathComponent("filesystem.toml"))
        let host = PluginHost(directory: dir, logger: TestPostgres.logger)
        await host.reload()
        let fixture = try await APIFixture.make("plugins")
        try await fixture.app(plugins: host).test(.router) { client in
            let admin = try await client.signup("admin@example.com")  // the first account is the instance admin
            let user = try await client.signup("user@example.com")
            #expect(try await client.call(.get, "/api/v1/plugins").status == .unauthorized)
            let list = try await client.call(.get, "/api/v1/plugins", token: user.token)
            #expect(list.status == .ok)
            let items = list.body["items"] as? [[String: Any]] ?? []
            #expect(items.count == 1)
            #expect(items.first?["status"] as? String == "loaded")
            let ids = (items.first?["providers"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == ["filesystem/files"])

            try "name = \"broken\"\nruntime = \"swift\"\nlibrary = \"libNoSuchPlugin.so\"\n"
                .write(to: dir.appendingPathComponent("broken.toml"), atomically: true, encoding: .utf8)
            #expect(try await client.call(.post, "/api/v1/plugins/reload").status == .unauthorized)
            #expect(try await client.call(.post, "/api/v1/plugins/reload", token: user.token).status == .forbidden)
            #expect(await host.plugins().count == 1, "a refused reload must not reload")
            let reload = try await client.call(.post, "/api/v1/plugins/reload", token: admin.token)
            #expect(reload.status == .ok)
            #expect(reload.body["added"] as? [String] == ["broken"])
            #expect(reload.body["failed"] as? [String] == ["broken"])
            let after = try await client.call(.get, "/api/v1/plugins", token: user.token).body["items"] as? [[String: Any]] ?? []
            #expect(after.first { $0["name"] as? String == "filesystem" }?["status"] as? String == "loaded")
            #expect(after.first { $0["name"] as? String == "broken" }?["status"] as? String == "failed")
        }
        await fixture.stop()
    }
}
