import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import Testing

@testable import NvisyServer

@Suite("HTTP skeleton")
struct HTTPSkeletonTests {
    private func app(checks: [HealthCheck]) -> some ApplicationProtocol {
        let config = try! ConfigurationLoader(flags: [:], environment: [:]).load()
        return buildApplication(configuration: config, dependencies: .init(healthChecks: checks), logger: TestPostgres.logger)
    }

    @Test("GET /health is 200 with postgres ok, and 503 naming postgres once it stops")
    func healthFollowsPostgres() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-health")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try await EmbeddedPostgres.start(dataDirectory: dir, logger: TestPostgres.logger)
        let database = NvisyDatabase(url: try DatabaseURL(server.connectionURL), logger: TestPostgres.logger)
        let pool = Task { await database.client.run() }
        defer { pool.cancel() }
        try await app(checks: [.postgres(database)]).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let report = try JSONDecoder().decode(HealthController.Report.self, from: Data(buffer: response.body))
                #expect(report == .init(status: "ok", checks: ["postgres": "ok"]))
            }
            await server.stop()
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let report = try JSONDecoder().decode(HealthController.Report.self, from: Data(buffer: response.body))
                #expect(report.status == "unavailable")
                #expect(report.checks["postgres"]?.hasPrefix("postgres:") == true)
            }
        }
    }

    @Test("an unknown path is a JSON 404 problem carrying the request id")
    func notFoundProblem() async throws {
        try await app(checks: []).test(.router) { client in
            try await client.execute(uri: "/api/v1/nothing", method: .get, headers: [.init("x-request-id")!: "abc-123"]) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.init("x-request-id")!] == "abc-123")
                let problem = try JSONDecoder().decode(ProblemDetails.self, from: Data(buffer: response.body))
                #expect(problem.status == 404)
                #expect(problem.instance == "/api/v1/nothing")
            }
        }
    }

    @Test("a request id is generated when missing, and a hostile one is replaced")
    func requestIDs() async throws {
        try await app(checks: []).test(.router) { client in
            let generated = try await client.execute(uri: "/health", method: .get) { $0.headers[.init("x-request-id")!] }
            #expect(generated.flatMap(UUID.init(uuidString:))?.version == 7)
            let forged = try await client.execute(uri: "/health", method: .get, headers: [.init("x-request-id")!: "a b\tc"]) {
                $0.headers[.init("x-request-id")!]
            }
            #expect(forged != "a b\tc")
        }
    }

    @Test("GET /metrics exposes request counts and duration histograms by route")
    func metrics() async throws {
        try await app(checks: []).test(.router) { client in
            for _ in 0..<3 { _ = try await client.execute(uri: "/health", method: .get) { $0.status } }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains("hb_requests{http_route=\"/health\""))
                #expect(text.contains("http_server_request_duration_bucket"))
            }
        }
    }

    @Test("an internal error is a 500 problem that hides its details")
    func internalErrorHidden() async throws {
        struct Secret: Error { let value = "s3cr3t-detail" }
        let router = buildRouter(dependencies: .init())
        router.get("/boom") { _, _ -> String in throw Secret() }
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(!String(buffer: response.body).contains("s3cr3t"))
            }
        }
    }
}
