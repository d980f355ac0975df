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

    /// Answers within `timeout` whether the database accepts a query.
    public func ping(timeout: Duration = .seconds(2)) async -> Result<Void, NvisyError> {
        let client = client
        let logger = logger
        return await withTaskGroup(of: Result<Void, NvisyError>?.self) { group in
            group.addTask {
                do {
                    _ = try await client.query("SELECT 1", logger: logger)
                    return .success(())
                } catch {
                    return .failure(.unavailable("postgres: \(PostgresErrorText.describe(error))"))
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(.unavailable("postgres: no answer within \(timeout)"))
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(.unavailable("postgres: no answer"))
        }
    }

    /// Applies pending migrations (see ``MigrationRunner``).
    @discardableResult
    public func migrate() async throws(NvisyError) -> [Migration] {
        try await MigrationRunner(client: client, logger: logger).migrate()
    }
}
