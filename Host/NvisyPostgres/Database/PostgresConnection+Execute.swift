import Logging
import PostgresNIO

extension PostgresConnection {
    /// Runs a statement whose rows do not matter and reads its result to the end, so no
    /// half-read row stream outlives the call (and the connection can close cleanly).
    public func execute(_ query: PostgresQuery, logger: Logger) async throws {
        let rows = try await self.query(query, logger: logger)
        for try await _ in rows {}
    }
}
