import Foundation

/// How webhooks are delivered. Config keys (see `ServerConfiguration`): `webhook_allow_private`,
/// `webhook_retry_schedule`, `webhook_timeout_seconds`, `webhook_auto_pause_hours`.
public struct WebhookSettings: Sendable {
    /// Delays before the 2nd, 3rd, ... attempt (jittered); after the last one the delivery
    /// fails. Default: 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, 12 h (8 attempts over about 20 h).
    public var retrySchedule: [Duration]
    /// Jitter: each delay is multiplied by a random factor in `1 ± jitter`.
    public var jitter: Double
    /// The whole request (connect, send, response) must finish within this.
    public var timeout: Duration
    /// At most this many bytes of a response body are read (and kept in the log).
    public var maxResponseBytes: Int
    /// When false (the default outside the embedded dev mode), targets that resolve to private,
    /// loopback, link-local or otherwise internal addresses are refused (SSRF protection).
    public var allowPrivateAddresses: Bool
    /// An endpoint that has failed without a single success for this long is paused.
    public var autoPauseAfter: Duration
    /// How often the dispatcher looks for outbox rows when nothing woke it.
    public var dispatchInterval: Duration
    /// Deliveries sent at the same time by one host.
    public var concurrency: Int
    /// During a secret rotation the old secret still signs for this long.
    public var rotationGracePeriod: Duration
    /// The longest `Retry-After` honoured.
    public var maxRetryAfter: Duration

    public init(
        retrySchedule: [Duration] = [.seconds(5), .seconds(30), .seconds(120), .seconds(600), .seconds(3600),
                                     .seconds(6 * 3600), .seconds(12 * 3600)],
        jitter: Double = 0.2,
        timeout: Duration = .seconds(10),
        maxResponseBytes: Int = 4096,
        allowPrivateAddresses: Bool = false,
        autoPauseAfter: Duration = .seconds(3 * 24 * 3600),
        dispatchInterval: Duration = .milliseconds(500),
        concurrency: Int = 16,
        rotationGracePeriod: Duration = .seconds(24 * 3600),
        maxRetryAfter: Duration = .seconds(6 * 3600)
    ) {
        self.retrySchedule = retrySchedule
        self.jitter = jitter
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
        self.allowPrivateAddresses = allowPrivateAddresses
        self.autoPauseAfter = autoPauseAfter
        self.dispatchInterval = dispatchInterval
        self.concurrency = concurrency
        self.rotationGracePeriod = rotationGracePeriod
        self.maxRetryAfter = maxRetryAfter
    }

    var timeoutMilliseconds: Int64 {
        timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
    }

    /// Total attempts of one delivery cycle (the first + one per schedule entry).
    public var maxAttempts: Int { retrySchedule.count + 1 }

    /// The delay before attempt `attempt + 1` after `attempt` failed (1-based), jittered;
    /// `nil` when `attempt` was the last. A `Retry-After` replaces the schedule's delay (capped).
    public func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil) -> Duration? {
        guard attempt >= 1, attempt <= retrySchedule.count else { return nil }
        if let retryAfter { return min(max(retryAfter, .zero), maxRetryAfter) }
        let base = retrySchedule[attempt - 1]
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...(1 + jitter)) : 1
        let ms = Double(base.components.seconds) * 1000 + Double(base.components.attoseconds) / 1e15
        return .milliseconds(Int64(max(0, ms * factor)))
    }
}
