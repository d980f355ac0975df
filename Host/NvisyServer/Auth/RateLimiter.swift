import Crypto
import Foundation
import NvisyCore
import NvisyPostgres

/// Attempt limits per key (a client IP, an email) over a window that starts with the key's
/// first attempt, counted in PostgreSQL (``RateLimitRepository``) so that all hosts of an
/// installation share one count: two hosts no longer allow twice the attempts.
public struct RateLimiter: Sendable {
    public let limit: Int
    public let window: Duration
    let counters: RateLimitRepository

    public init(limit: Int, window: Duration, counters: RateLimitRepository) {
        self.limit = limit
        self.window = window
        self.counters = counters
    }

    /// Counts one attempt for `key`; returns the wait before the next allowed one when over the limit.
    public func hit(_ key: String) async throws(NvisyError) -> Duration? {
        let digest = Data(SHA256.hash(data: Data(key.utf8)))
        let (hits, left) = try await counters.hit(digest, window: window)
        return hits > limit ? left : nil
    }
}
