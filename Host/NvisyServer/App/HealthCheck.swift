import NvisyCore
import NvisyNATS
import NvisyPostgres

/// One dependency that `GET /health` reports on.
public struct HealthCheck: Sendable {
    /// The name shown under `checks` (`postgres`, `nats`, ...).
    public var name: String
    /// Answers quickly (it runs on every health request): success, or an error that names the problem.
    public var probe: @Sendable () async -> Result<Void, NvisyError>

    public init(name: String, probe: @escaping @Sendable () async -> Result<Void, NvisyError>) {
        self.name = name
        self.probe = probe
    }

    /// The check of nvisy's database.
    public static func postgres(_ database: NvisyDatabase) -> HealthCheck {
        HealthCheck(name: "postgres") { await database.ping() }
    }

    /// The check of nvisy's NATS connection (reconnects happen by themselves; this reports the gap).
    public static func nats(_ runtime: NATSRuntime) -> HealthCheck {
        HealthCheck(name: "nats") {
            runtime.isHealthy ? .success(()) : .failure(.unavailable("nats: disconnected (\(runtime.connection.status))"))
        }
    }
}
