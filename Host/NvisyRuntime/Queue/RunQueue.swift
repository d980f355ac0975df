import Foundation
import NvisyCore
import NvisyNATS

/// The JetStream work queue of runs to execute: one message per run (deduplicated by run id),
/// taken by whichever worker pulls it first, acknowledged when the run has ended.
public enum RunQueue {
    /// Work-queue retention: an acknowledged message is gone. A worker that dies leaves its
    /// message unacknowledged; JetStream hands it to another worker after the ack wait.
    public static let stream = StreamDescription(
        name: "RUNS", subjects: ["runs.>"], retention: .workQueue,
        duplicateWindow: .seconds(120), description: "nvisy pipeline runs to execute")

    /// Puts run `id` on the queue (a second call within two minutes is a no-op).
    public static func enqueue(_ id: UUID, on jetStream: JetStream) async throws(NvisyError) {
        do {
            _ = try await jetStream.ensureStream(stream)
            _ = try await jetStream.publish(RunQueuedMessage(runID: id), messageID: id.uuidString.lowercased())
        } catch let error as NvisyError {
            throw error
        } catch {
            throw NvisyError.unavailable("cannot queue run \(id.uuidString.lowercased()): \(error)")
        }
    }
}

/// "Run this run": the queue's only message type.
public struct RunQueuedMessage: StreamMessage, Equatable {
    public static var stream: StreamDescription { RunQueue.stream }
    public static var subject: String { "runs.queued" }

    public var runID: UUID

    public init(runID: UUID) { self.runID = runID }
}
