import Foundation
import Logging
import NvisyCore
import PostgresNIO
import Synchronization

/// Attempt counters in PostgreSQL, so that every host of an installation counts against the
/// same limit. A window starts with a key's first attempt and lasts `window`; the row lock taken
/// by the upsert orders concurrent attempts from any host.
public final class RateLimitRepository: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Attempts since the last sweep of ended windows (a sweep runs every 256 attempts).
    private let sinceSweep = Atomic<Int>(0)

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Counts one attempt for `key` (a digest, never the address itself) and returns the
    /// attempts in its current window and the time left in that window.
    public func hit(_ digest: Data, window: Duration) async throws(NvisyError) -> (hits: Int, left: Duration) {
        let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        do {
            // now(): one instant for the whole statement. clock_timestamp() in each CASE could
            // straddle the window's end and reset the count without moving the window (or the reverse).
            let rows = try await client.query("""
                INSERT INTO rate_limits (key, window_start, hits) VALUES (\(digest), now(), 1)
                ON CONFLICT (key) DO UPDATE SET
                    hits = CASE WHEN rate_limits.window_start <= now() - make_interval(secs => \(seconds))
                                THEN 1 ELSE rate_limits.hits + 1 END,
                    window_start = CASE WHEN rate_limits.window_start <= now() - make_interval(secs => \(seconds))
                                        THEN now() ELSE rate_limits.window_start END
                RETURNING hits, extract(epoch FROM window_start + make_interval(secs => \(seconds)) - now())::float8
                """, logger: logger)
            var answer = (hits: 1, left: window)
            for try await (hits, left) in rows.decode((Int32, Double).self) {
                answer = (Int(hits), .milliseconds(Int64(max(0, left) * 1000)))
            }
            if sinceSweep.wrappingAdd(1, ordering: .relaxed).newValue % 256 == 0 {
                try await client.query("DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => \(seconds))",
                                       logger: logger).drain()
            }
            return answer
        } catch { throw PostgresErrors.wrap(error, "count an attempt") }
    }
}
