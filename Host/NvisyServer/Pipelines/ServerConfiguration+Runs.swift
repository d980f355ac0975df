import Foundation
import NvisyRuntime

extension ServerConfiguration {
    /// The run worker settings of this configuration.
    public var runWorkerSettings: RunWorkerSettings {
        var options = RunOptions()
        options.batchSize = runBatchSize
        options.errorBudget = runErrorBudget
        return RunWorkerSettings(concurrency: max(1, workerConcurrency), maxAttempts: runMaxAttempts, runOptions: options)
    }
}
