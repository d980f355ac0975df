import Logging
import NvisyCore
import PostgresNIO

/// nvisy's connection pool to its PostgreSQL database.
///
/// The pool's ``client`` must be running (it is a swift-service-lifecycle `Service`: add it to
/// the service group, or call `run()` in a task) before queries are sent.
public struct NvisyDatabase: Sendable {
    public let client: PostgresClient
    public let url: DatabaseURL
    let logger: Logger

    public init(url: DatabaseURL, logger: Logger) {
        self.url = url
        self.logger = logger
        client = PostgresClient(configuration: url.clientConfiguration, backgroundLogger: logger)
    }

    /// Answers within about `timeout` whether the database accepts a query.
    ///
    /// It opens its own short-lived connection rather than borrowing one from the pool: a
    /// health probe must not queue behind busy work, and cancelling a pool request mid-connect
    /// is what a timeout race would need.
    public func ping(timeout: Duration = .seconds(2)) async -> Result<Void, NvisyError> {
        var config = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database,
            tls: url.connectionTLS)
        config.options.connectTimeout = .seconds(timeout.components.seconds == 0 ? 1 : timeout.components.seconds)
        do {
            let connection = try await PostgresConnection.connect(configuration: config, id: 0, logger: logger)
            do {
                try await connection.execute("SELECT 1", logger: logger)
                try await connection.close()
                return .success(())
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            return .failure(.unavailable("postgres: \(PostgresErrorText.describe(error))"))
        }
    }

    /// Applies pending migrations (see ``MigrationRunner``).
    @discardableResult
    public func migrate() async throws(NvisyError) -> [Migration] {
        try await MigrationRunner(client: client, logger: logger).migrate()
    }
}
