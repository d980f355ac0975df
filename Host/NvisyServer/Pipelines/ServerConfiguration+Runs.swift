import Foundation
import NvisyRuntime

extension ServerConfiguration {
    /// The run worker settings of this configuration.
    public var runWorkerSettings: RunWorkerSettings {
        var options = RunOptions()
        options.batchSize = runBatchSize
        options.errorBudget = runErrorBudget
        options.sinkBatchSize = runSinkBatchSize > 0 ? runSinkBatchSize : nil
        // JetStream hands a dead worker's message out again after the ack wait; twice the lease
        // leaves the new worker's claim to find the lease expired.
        let lease = Int64(runLeaseSeconds)
        return RunWorkerSettings(concurrency: max(1, workerConcurrency), lease: .seconds(lease), ackWait: .seconds(max(5, 2 * lease)),
                                 maxAttempts: runMaxAttempts, orphanScan: .seconds(max(5, 2 * lease)), runOptions: options)
    }
}
