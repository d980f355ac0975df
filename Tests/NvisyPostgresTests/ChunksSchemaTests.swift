import Foundation
import NvisyCore
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyPostgres

/// Migration 0008 (chunks for several embedding models) on the real embedded PostgreSQL + pgvector.
@Suite("Chunks schema")
struct ChunksSchemaTests {
    @Test("two models of different dimensions coexist, each with its own HNSW index; text search via tsvector")
    func severalModels() async throws {
        let db = NvisyDatabase(url: try DatabaseURL(try await TestPostgres.freshDatabase("chunks")), logger: TestPostgres.logger)
        try await withRunningClient(db.client) {
            try await MigrationRunner(client: db.client, migrations: Migrations.all, logger: TestPostgres.logger).migrate()
            try await db.client.withConnection { conn in
                func exec(_ sql: String) async throws { _ = try await conn.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger) }
                func strings(_ sql: String) async throws -> [String] {
                    var out: [String] = []
                    for try await s in try await conn.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger).decode(String.self) {
                        out.append(s)
                    }
                    return out
                }
                let ws = UUID(), file = UUID()
                try await exec("INSERT INTO workspaces (id, name) VALUES ('\(ws)', 'kb')")
                try await exec("INSERT INTO files (id, workspace_id, name, object_key, status) VALUES ('\(file)', '\(ws)', 'a.md', 'f/\(file)', 'ready')")
                let small = try await strings("INSERT INTO embedding_models (name, dimensions) VALUES ('test/small', 3) RETURNING id::text")[0]
                let large = try await strings("INSERT INTO embedding_models (name, dimensions) VALUES ('test/large', 4) RETURNING id::text")[0]
                // Idempotent: a second call (another host, a restart) finds the index made.
                for _ in 0..<2 {
                    #expect(try await strings("SELECT nvisy_chunk_index(\(small))") == ["chunks_hnsw_m\(small)"])
                    #expect(try await strings("SELECT nvisy_chunk_index(\(large))") == ["chunks_hnsw_m\(large)"])
                }
                let rows: [(String, String, String)] = [
                    (small, "[1,0,0]", "The lighthouse keeper watched the storm."),
                    (small, "[0,1,0]", "Quarterly revenue grew in every region."),
                    (small, "[0.9,0.1,0]", "A storm battered the coast all night."),
                    (large, "[1,0,0,0]", "The lighthouse stood on the rocks."),
                ]
                for (i, r) in rows.enumerated() {
                    try await exec("""
                        INSERT INTO chunks (id, workspace_id, file_id, file_version, position, start_offset, end_offset, text,
                                            token_count, model_id, embedding)
                        VALUES ('\(UUID())', '\(ws)', '\(file)', 1, \(i), 0, \(r.2.count), '\(r.2)', 8, \(r.0), '\(r.1)')
                        """)
                }
                // A vector of the wrong dimension for its model is refused.
                await #expect(throws: PSQLError.self) {
                    try await exec("""
                        INSERT INTO chunks (id, workspace_id, file_id, file_version, position, start_offset, end_offset, text,
                                            token_count, model_id, embedding)
                        VALUES ('\(UUID())', '\(ws)', '\(file)', 1, 9, 0, 1, 'x', 1, \(small), '[1,0,0,0]')
                        """)
                }

                // Nearest neighbours within one model, through that model's index.
                let search = """
                    SELECT text FROM chunks WHERE model_id = \(small) AND workspace_id = '\(ws)'
                    ORDER BY embedding::vector(3) <=> '[1,0,0]'::vector(3) LIMIT 2
                    """
                #expect(try await strings(search) == ["The lighthouse keeper watched the storm.", "A storm battered the coast all night."])
                // The model's partial HNSW index covers graphed chunks only (migration 0015): the
                // rows above are pending, so the index holds none of them until the graph builder
                // has graphed them (which fills their tsv too, for the text search below).
                let inGraph = """
                    SELECT text FROM chunks WHERE model_id = \(small) AND graphed
                    ORDER BY embedding::vector(3) <=> '[1,0,0]'::vector(3) LIMIT 2
                    """
                try await exec("SET enable_seqscan = off")
                #expect(try await strings(inGraph).isEmpty)
                try await ChunkGraph(client: db.client, logger: TestPostgres.logger).drain()
                #expect(try await strings(inGraph) == ["The lighthouse keeper watched the storm.", "A storm battered the coast all night."])
                // That index serves the ORDER BY (a tiny table would be scanned otherwise; a
                // workspace filter is applied on top of the index scan).
                let plan = try await strings("EXPLAIN " + inGraph).joined(separator: "\n")
                #expect(plan.contains("chunks_hnsw_m\(small)"), "\(plan)")
                try await exec("RESET enable_seqscan")

                // Full text, across models, ranked.
                let text = try await strings("""
                    SELECT text FROM chunks WHERE tsv @@ plainto_tsquery('simple', 'lighthouse')
                    ORDER BY ts_rank(tsv, plainto_tsquery('simple', 'lighthouse')) DESC, position
                    """)
                #expect(Set(text) == ["The lighthouse keeper watched the storm.", "The lighthouse stood on the rocks."])

                // Status per file and model; deleting the file removes its chunks and status.
                try await exec("INSERT INTO file_index_status (file_id, model_id, workspace_id, file_version, status, chunk_count) VALUES ('\(file)', \(small), '\(ws)', 1, 'indexed', 3)")
                await #expect(throws: PSQLError.self) {
                    try await exec("INSERT INTO file_index_status (file_id, model_id, workspace_id, file_version, status) VALUES ('\(file)', \(large), '\(ws)', 1, 'done')")
                }
                try await exec("DELETE FROM files WHERE id = '\(file)'")
                #expect(try await strings("SELECT count(*)::text FROM chunks") == ["0"])
                #expect(try await strings("SELECT count(*)::text FROM file_index_status") == ["0"])
            }
        }
    }
}
