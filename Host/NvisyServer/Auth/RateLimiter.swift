import Foundation
import Synchronization

/// Fixed-window counters per key (an IP address, an email), in this process's memory.
///
/// With several hosts each counts alone, so the effective limit is up to N times the setting —
/// enough to stop password guessing at scale, not an exact quota.
public final class RateLimiter: Sendable {
    public let limit: Int
    public let window: Duration
    private let state = Mutex<[String: (start: ContinuousClock.Instant, count: Int)]>([:])

    public init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Counts one attempt for `key`; returns the wait before the next allowed one when over the limit.
    public func hit(_ key: String) -> Duration? {
        let now = ContinuousClock.now
        return state.withLock { counters in
            if counters.count > 100_000 { counters = counters.filter { now - $0.value.start < window } }
            var entry = counters[key] ?? (now, 0)
            if now - entry.start >= window { entry = (now, 0) }
            entry.count += 1
            counters[key] = entry
            return entry.count > limit ? window - (now - entry.start) : nil
        }
    }
}
