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

    @Test("GET /api/v1/plugins lists plugins.d with providers; POST reload picks up a new manifest")
    func pluginsRoutes() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-plugins-api")
        defer { try? FileManager.default.removeItem(at: dir) }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../plugins.d").standardized
        try FileManager.default.copyItem(at: repo.appendingPathComponent("filesystem.toml"), to: dir.appendingPathComponent("filesystem.toml"))
        let host = PluginHost(directory: dir, logger: TestPostgres.logger)
        await host.reload()
        try await app(.init(plugins: host)).test(.router) { client in
            try await client.execute(uri: "/api/v1/plugins", method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: response.body))
                let items = body["items"]?.arrayValue ?? []
                #expect(items.count == 1)
                #expect(items.first?["status"]?.stringValue == "loaded")
                let ids = items.first?["providers"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
                #expect(ids == ["filesystem/files"])
            }
            try "name = \"broken\"\nruntime = \"swift\"\nlibrary = \"libNoSuchPlugin.so\"\n"
                .write(to: dir.appendingPathComponent("broken.toml"), atomically: true, encoding: .utf8)
            try await client.execute(uri: "/api/v1/plugins/reload", method: .post) { response in
                #expect(response.status == .ok)
                let report = try JSONDecoder().decode(PluginReloadReport.self, from: Data(buffer: response.body))
                #expect(report.added == ["broken"])
                #expect(report.failed == ["broken"])
                #expect(report.plugins.first { $0.name == "filesystem" }?.status == .loaded)
            }
        }
    }
}
