import Foundation
import Logging
import NvisyCore
import NvisyPostgres
import PostgresNIO

/// Checkpoints and per-item errors in nvisy's database (tables `run_checkpoints` and
/// `run_item_errors`, migration 0006). The client's pool must be running.
public struct PostgresCheckpointStore: CheckpointStore {
    public let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func checkpoints(run: UUID) async throws -> [String: Data] {
        try await guarded {
            let rows = try await client.query("SELECT node_id, resume_token FROM run_checkpoints WHERE run_id = \(run)", logger: logger)
            var out: [String: Data] = [:]
            for try await (node, token) in rows.decode((String, ByteBuffer).self) { out[node] = Data(token.readableBytesView) }
            return out
        }
    }

    public func save(run: UUID, checkpoints: [SourceCheckpoint]) async throws {
        let saved = checkpoints.filter { $0.resumeToken != nil }
        guard !saved.isEmpty else { return }
        try await guarded {
            let nodes = saved.map(\.nodeId), tokens = saved.map { ByteBuffer(bytes: $0.resumeToken!) }, items = saved.map { Int64($0.items) }
            _ = try await client.query("""
                INSERT INTO run_checkpoints (run_id, node_id, resume_token, items)
                SELECT \(run), n, t, i FROM unnest(\(nodes)::text[], \(tokens)::bytea[], \(items)::bigint[]) AS u(n, t, i)
                ON CONFLICT (run_id, node_id) DO UPDATE
                SET resume_token = EXCLUDED.resume_token, items = EXCLUDED.items, updated_at = now()
                """, logger: logger)
        }
    }

    public func record(run: UUID, errors: [RunItemError]) async throws {
        guard !errors.isEmpty else { return }
        try await guarded {
            _ = try await client.query("""
                INSERT INTO run_item_errors (run_id, node_id, item_token, message, retry_class, created_at)
                SELECT \(run), n, t, m, r, a
                FROM unnest(\(errors.map(\.nodeId))::text[], \(errors.map(\.itemToken))::text[], \(errors.map(\.message))::text[],
                            \(errors.map(\.retry.rawValue))::text[], \(errors.map(\.at))::timestamptz[]) WITH ORDINALITY AS u(n, t, m, r, a, o)
                ORDER BY o
                """, logger: logger)
        }
    }

    public func errors(run: UUID, limit: Int, after: Int64?) async throws -> RunItemErrorPage {
        try await guarded {
            let rows = try await client.query("""
                SELECT position, node_id, item_token, message, retry_class, created_at FROM run_item_errors
                WHERE run_id = \(run) AND position > \(after ?? 0) ORDER BY position LIMIT \(limit + 1)
                """, logger: logger)
            var items: [(Int64, RunItemError)] = []
            for try await (pos, node, token, message, retry, at) in rows.decode((Int64, String, String, String, String, Date).self) {
                items.append((pos, RunItemError(nodeId: node, itemToken: token, message: message,
                                                retry: RetryClass(rawValue: retry) ?? .permanent, at: at)))
            }
            let more = items.count > limit
            let page = Array(items.prefix(limit))
            return RunItemErrorPage(items: page.map(\.1), next: more ? page.last?.0 : nil)
        }
    }

    private func guarded<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as NvisyError { throw e } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw NvisyError.unavailable("postgres (run checkpoints): \(PostgresErrorText.describe(error))")
        }
    }
}
