import Foundation
import Logging
import NvisyPostgres
import ServiceLifecycle

/// Puts the knowledge base's pending chunks into their HNSW graph and the text index in the
/// background (``ChunkGraph``), once indexing goes quiet.
///
/// Graphing competes with indexing for the same cores, and a pending chunk is already
/// searchable (exactly), so the service waits until no chunk has been stored for `quiet`, then
/// graphs batch by batch, looking again every `recheck` batches: a new burst of writes pauses
/// it. Only a backlog of `backlog` pending chunks makes it graph while writes go on, so the
/// exact scans that searches pay for pending chunks stay bounded (a text search makes the
/// tsvector of each pending chunk of its scope: ≈ 40 µs a chunk, so ≈ 0.2 s at 5,000).
public struct ChunkGraphService: Service {
    let graph: ChunkGraph
    let quiet: Duration
    let backlog: Int
    let idle: Duration
    let logger: Logger
    static let batch = 256
    static let recheck = 8

    public init(graph: ChunkGraph, quiet: Duration = .seconds(1), backlog: Int = 5_000, idle: Duration = .seconds(1), logger: Logger) {
        self.graph = graph
        self.quiet = quiet
        self.backlog = backlog
        self.idle = idle
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let wait = await step()
                if wait > .zero { try? await Task.sleep(for: wait) }
            }
        }
    }

    /// One look at the pending chunks (graphing some when due); answers how long to wait before
    /// the next look.
    func step() async -> Duration {
        let pending: (count: Int, age: Double)
        do { pending = try await graph.pending() } catch {
            logger.warning("chunk graph: cannot count pending chunks", metadata: ["error": "\(error.message)"])
            return idle * 5
        }
        if pending.count == 0 { return idle }
        let quietFor = Duration.milliseconds(Int64(pending.age * 1000))
        guard pending.count >= backlog || quietFor >= quiet else { return quiet - quietFor }
        var graphed = 0
        do {
            for _ in 0..<Self.recheck {
                let n = try await graph.graph(limit: Self.batch)
                graphed += n
                if n < Self.batch || Task.isCancelled { break }
            }
        } catch {
            logger.warning("chunk graph: a batch failed", metadata: ["error": "\(error.message)"])
            return idle
        }
        logger.debug("chunk graph", metadata: ["graphed": "\(graphed)", "pending": "\(max(0, pending.count - graphed))"])
        return .zero
    }
}
