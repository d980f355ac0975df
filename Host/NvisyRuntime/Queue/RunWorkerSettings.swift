import Foundation

/// How a host works off the run queue.
public struct RunWorkerSettings: Sendable, Hashable {
    /// This worker's name in the runs table (`hostname:pid:random` by default).
    public var workerID: String
    /// Runs this host executes at the same time.
    public var concurrency: Int
    /// How long a claimed run stays this worker's without a heartbeat; after that another
    /// worker may take it over (after a kill -9).
    public var lease: Duration
    /// How often a running run's progress and lease are written (also how soon a cancel
    /// requested on another host is noticed).
    public var heartbeat: Duration
    /// JetStream's ack wait for run messages: a dead worker's run is handed out again after it.
    public var ackWait: Duration
    /// How many attempts a run that fails with a transient error gets before it fails.
    public var maxAttempts: Int
    /// How often queued runs that lost their message (and running runs whose worker died) are
    /// put on the queue again.
    public var orphanScan: Duration
    /// Run options (batch size, retries, error budget) for every run.
    public var runOptions: RunOptions

    public init(workerID: String = RunWorkerSettings.defaultWorkerID(), concurrency: Int = 2, lease: Duration = .seconds(15),
                heartbeat: Duration = .seconds(1), ackWait: Duration = .seconds(30), maxAttempts: Int = 3,
                orphanScan: Duration = .seconds(30), runOptions: RunOptions = RunOptions()) {
        self.workerID = workerID
        self.concurrency = max(1, concurrency)
        self.lease = lease
        self.heartbeat = heartbeat
        self.ackWait = ackWait
        self.maxAttempts = max(1, maxAttempts)
        self.orphanScan = orphanScan
        self.runOptions = runOptions
    }

    /// `hostname:pid:xxxx`: unique per process, readable in the runs table.
    public static func defaultWorkerID() -> String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(4).lowercased())"
    }
}
