import NvisyPlugins

/// How a run behaves: batch sizes, checkpoint cadence, retries, error budget.
public struct RunOptions: Sendable, Hashable {
    /// Items per batch read from a source and per call to a provider transform or sink.
    public var batchSize: Int = 500
    /// Items per batch read from a source of objects or documents (files: big, few).
    public var objectBatchSize: Int = 4
    /// Save the checkpoint after this many source items (or rows of a source item being
    /// expanded, such as a CSV file's) completed …
    public var checkpointEveryItems: Int = 1000
    /// … or after this long, whichever comes first (only when it changed).
    public var checkpointInterval: Duration = .seconds(1)
    /// How often ``PipelineRun/progress()`` yields a snapshot.
    public var progressInterval: Duration = .seconds(1)
    /// Retries of transient errors (per item, per batch, and reopening a source).
    public var retry: RetryPolicy = RetryPolicy()
    /// Permanent per-item errors tolerated; one more fails the run.
    public var errorBudget: Int = 100
    /// Provider call options (timeouts) for the instances the run makes; nil: the registry's default.
    public var callOptions: ProviderCallOptions?
    /// Items per sink write (one transaction for a database sink): a sink gathers the batches
    /// reaching it up to this many items, so a commit (an fsync) is paid per `sinkBatchSize`
    /// items rather than per batch. Items are acknowledged — and the checkpoint passes them —
    /// only once written. nil: one write per batch received (no gathering).
    public var sinkBatchSize: Int?
    /// … but a sink holding gathered items writes them after this long, even short of
    /// `sinkBatchSize`, so a slow or idle source never keeps items unwritten.
    public var sinkFlushInterval: Duration = .milliseconds(500)
    /// How long a built-in that gathers its input into bigger batches (`embed`: a model's batch)
    /// waits for more before applying a partial one: long enough for the next document to be
    /// partitioned and chunked, short beside a model call on a slow upstream.
    public var gatherWindow: Duration = .milliseconds(10)

    public init(batchSize: Int = 500, checkpointEveryItems: Int = 1000, checkpointInterval: Duration = .seconds(1),
                progressInterval: Duration = .seconds(1), retry: RetryPolicy = RetryPolicy(), errorBudget: Int = 100,
                callOptions: ProviderCallOptions? = nil, objectBatchSize: Int = 4, sinkBatchSize: Int? = nil,
                sinkFlushInterval: Duration = .milliseconds(500), gatherWindow: Duration = .milliseconds(10)) {
        self.batchSize = max(1, batchSize)
        self.objectBatchSize = max(1, objectBatchSize)
        self.checkpointEveryItems = max(1, checkpointEveryItems)
        self.checkpointInterval = checkpointInterval
        self.progressInterval = progressInterval
        self.retry = retry
        self.errorBudget = max(0, errorBudget)
        self.callOptions = callOptions
        self.sinkBatchSize = sinkBatchSize.map { max(1, $0) }
        self.sinkFlushInterval = sinkFlushInterval
        self.gatherWindow = gatherWindow
    }
}

/// Exponential backoff for transient errors: `initialBackoff × multiplier^(attempt-1)`,
/// capped at `maxBackoff`, with ±20 % jitter; `maxAttempts` tries in all.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    public var multiplier: Double

    public init(maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(10),
                multiplier: Double = 2) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.multiplier = multiplier
    }

    /// The wait before attempt `attempt + 1` (attempt ≥ 1).
    public func backoff(after attempt: Int) -> Duration {
        let base = Double(initialBackoff.components.seconds) + Double(initialBackoff.components.attoseconds) / 1e18
        let cap = Double(maxBackoff.components.seconds) + Double(maxBackoff.components.attoseconds) / 1e18
        let seconds = min(cap, base * pow(multiplier, Double(attempt - 1))) * Double.random(in: 0.8...1.2)
        return .milliseconds(Int64(seconds * 1000))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
