import Foundation
import Hummingbird
import NvisyCore

/// `GET /health`: 200 when every dependency answers, else 503 naming the failing ones.
public struct HealthController: Sendable {
    /// The health document.
    public struct Report: Codable, Sendable, Equatable {
        public var status: String
        public var checks: [String: String]
    }

    let checks: [HealthCheck]

    public init(checks: [HealthCheck]) {
        self.checks = checks
    }

    public func addRoutes(to router: Router<NvisyRequestContext>) {
        router.get("/health") { _, _ in try await self.report() }
    }

    func report() async throws -> Response {
        let results = await withTaskGroup(of: (String, String).self) { group in
            for check in checks {
                group.addTask {
                    switch await check.probe() {
                    case .success: (check.name, "ok")
                    case .failure(let error): (check.name, error.message)
                    }
                }
            }
            var all: [String: String] = [:]
            for await (name, state) in group { all[name] = state }
            return all
        }
        let healthy = results.values.allSatisfy { $0 == "ok" }
        let report = Report(status: healthy ? "ok" : "unavailable", checks: results)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: healthy ? .ok : .serviceUnavailable,
                        headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(report))))
    }
}
