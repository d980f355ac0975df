import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// Puts stored chunks into their model's HNSW graph and the text index, after the write that
/// stored them (migration 0015).
///
/// A chunk is stored pending (`graphed = false`, no `tsv`): searchable at once through exact
/// scans of the pending chunks (``ChunkSearch``), so a write costs the row but not the graph
/// insert, the tsvector and its GIN entries, which together cost more per chunk than embedding
/// the text with the local model. ``graph(limit:)`` marks a batch of pending chunks graphed and
/// fills their `tsv`; that one update inserts them into the HNSW and GIN indexes. Several hosts
/// may graph at once: batches are claimed with `FOR UPDATE SKIP LOCKED`, and a chunk that a
/// re-index deletes meanwhile is simply gone.
public struct ChunkGraph: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// How many chunks wait for the graph, and how many seconds ago the newest of them was
    /// stored (by the database's clock, as `created_at` is; 0 when none waits).
    public func pending() async throws(NvisyError) -> (count: Int, age: Double) {
        do {
            let rows = try await client.query("""
                SELECT count(*)::int, COALESCE(extract(epoch FROM now() - max(created_at)), 0)::float8 FROM chunks WHERE NOT graphed
                """, logger: logger)
            for try await (n, age) in rows.decode((Int32, Double).self) { return (Int(n), age) }
            return (0, 0)
        } catch { throw PostgresErrors.wrap(error, "count pending chunks") }
    }

    /// Puts up to `limit` pending chunks into their graph, in one transaction; answers how many.
    @discardableResult
    public func graph(limit: Int = 256) async throws(NvisyError) -> Int {
        do {
            let rows = try await client.query("""
                WITH picked AS (SELECT id FROM chunks WHERE NOT graphed LIMIT \(Int32(max(1, limit))) FOR UPDATE SKIP LOCKED),
                     done AS (UPDATE chunks c SET graphed = true, tsv = to_tsvector('simple', c.text) FROM picked WHERE c.id = picked.id RETURNING 1)
                SELECT count(*)::int FROM done
                """, logger: logger)
            for try await n in rows.decode(Int32.self) { return Int(n) }
            return 0
        } catch { throw PostgresErrors.wrap(error, "graph chunks") }
    }

    /// Graphs until nothing is pending, `workers` batches at a time (each on its own connection,
    /// so the inserts run in that many backends); answers how many chunks it graphed.
    @discardableResult
    public func drain(batch: Int = 256, workers: Int = 2) async throws(NvisyError) -> Int {
        do {
            return try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<max(1, workers) {
                    group.addTask {
                        var total = 0
                        while true {
                            let n = try await graph(limit: batch)
                            total += n
                            if n == 0 { return total }
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
        } catch let error as NvisyError { throw error } catch { throw NvisyError.internal("graph chunks: \(error)") }
    }
}
