import Foundation
import NvisyCore
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyPostgres

/// Chunks join their model's HNSW graph and the text index after the write (migration 0015,
/// ChunkGraph); a search finds them before and after, through exact scans of pending chunks and
/// then the indexes, ranked alike.
@Suite("Chunk graph")
struct ChunkGraphTests {
    @Test("stored chunks are searchable while pending, stay ranked alike (vector and text) as they join the indexes in batches, and then come from the HNSW index")
    func pendingThenGraphed() async throws {
        try await ChunkRepositoryTests().withFixture { f in
            let names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
            let texts = (0..<6).map { "chunk number \($0) \(names[$0])" }
            let run = UUID()
            let rows = (0..<6).map { i in
                NewChunk(fileID: f.file, fileVersion: 2, indexRun: run, position: i, total: 6, page: nil, section: nil, start: 0,
                         end: texts[i].count, text: texts[i], tokenCount: 3, vector: [Float(i) / 5, 1 - Float(i) / 5, 0.1])
            }
            try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: rows)
            let graph = ChunkGraph(client: f.client, logger: TestPostgres.logger)
            let search = ChunkSearch(client: f.client, logger: TestPostgres.logger)
            let query: [Float] = [1, 0, 0.1]
            // The exact ranking by cosine distance to the query: position 5 is nearest.
            let expected = ["chunk number 5 foxtrot", "chunk number 4 echo", "chunk number 3 delta", "chunk number 2 charlie"]
            func ranked() async throws -> [String] {
                try await search.search(workspace: f.workspace, query: "", embedding: QueryEmbedding(model: "test/model", vector: query),
                                        k: 4, mode: .vector).map(\.text)
            }
            // Text: the words of chunks 2 and 3 (the query's other word, "number", is in all six).
            func textRanked() async throws -> [String] {
                try await search.search(workspace: f.workspace, query: "number charlie delta", embedding: QueryEmbedding(model: "test/model", vector: nil),
                                        k: 10, mode: .text).map(\.text)
            }
            #expect(try await graph.pending().count == 6)
            #expect(try await f.strings("SELECT count(*)::text FROM chunks WHERE graphed OR tsv IS NOT NULL") == ["0"])
            #expect(try await ranked() == expected)
            let textBefore = try await textRanked()
            #expect(textBefore.count == 6 && Set(textBefore.prefix(2)) == ["chunk number 2 charlie", "chunk number 3 delta"])
            // Part of the file in the graph, part pending: one ranking, no duplicates.
            #expect(try await graph.graph(limit: 3) == 3)
            #expect(try await graph.pending().count == 3)
            #expect(try await ranked() == expected)
            #expect(try await textRanked() == textBefore)
            #expect(try await graph.drain(batch: 2) == 3)
            #expect(try await graph.pending() == (0, 0))
            #expect(try await ranked() == expected)
            let plan = try await search.explainVector(workspace: f.workspace, model: "test/model", vector: query, k: 4)
            #expect(plan.contains("chunks_hnsw_m\(f.model)"), "\(plan)")
            // The text ranking is the same from the GIN index as from the pending chunks' text.
            #expect(try await textRanked() == textBefore)
        }
    }

    @Test("migrating a database indexed before 0015 keeps its chunks in the graph and rebuilds each model's index for graphed chunks")
    func migrationKeepsIndexedChunks() async throws {
        let db = NvisyDatabase(url: try DatabaseURL(try await TestPostgres.freshDatabase("chunkgraph")), logger: TestPostgres.logger)
        try await withRunningClient(db.client) {
            func strings(_ sql: String) async throws -> [String] {
                var out: [String] = []
                for try await s in try await db.client.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger).decode(String.self) { out.append(s) }
                return out
            }
            let before = Migrations.all.filter { $0.version < 15 }
            try await MigrationRunner(client: db.client, migrations: before, logger: TestPostgres.logger).migrate()
            let ws = UUID(), file = UUID()
            _ = try await strings("INSERT INTO workspaces (id, name) VALUES ('\(ws)', 'kb') RETURNING id::text")
            _ = try await strings("INSERT INTO files (id, workspace_id, name, object_key, status) VALUES ('\(file)', '\(ws)', 'a.md', 'f/\(file)', 'ready') RETURNING id::text")
            let model = try await strings("INSERT INTO embedding_models (name, dimensions) VALUES ('old/model', 3) RETURNING id::text")[0]
            _ = try await strings("SELECT nvisy_chunk_index(\(model))")
            _ = try await strings("""
                INSERT INTO chunks (id, workspace_id, file_id, file_version, position, start_offset, end_offset, text, token_count, model_id, embedding)
                VALUES ('\(UUID())', '\(ws)', '\(file)', 1, 0, 0, 3, 'old', 1, \(model), '[1,0,0]') RETURNING id::text
                """)
            try await MigrationRunner(client: db.client, migrations: Migrations.all, logger: TestPostgres.logger).migrate()
            #expect(try await strings("SELECT graphed::text FROM chunks") == ["true"])
            let definition = try await strings("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_hnsw_m\(model)'")
            #expect(definition.count == 1 && definition[0].contains("graphed"), "\(definition)")
            // New rows wait for the graph.
            _ = try await strings("""
                INSERT INTO chunks (id, workspace_id, file_id, file_version, position, start_offset, end_offset, text, token_count, model_id, embedding)
                VALUES ('\(UUID())', '\(ws)', '\(file)', 1, 1, 0, 3, 'new', 1, \(model), '[0,1,0]') RETURNING id::text
                """)
            #expect(try await strings("SELECT text FROM chunks WHERE NOT graphed") == ["new"])
            // 0016: the model in use got its dimension check (the row trigger is gone), and a
            // chunk can only name its file's workspace.
            #expect(try await strings("SELECT count(*)::text FROM pg_trigger WHERE tgname = 'chunks_check_dimension'") == ["0"])
            let other = UUID()
            _ = try await strings("INSERT INTO workspaces (id, name) VALUES ('\(other)', 'other') RETURNING id::text")
            for (workspace, vector, constraint) in [(ws, "[1,0,0,0]", "chunks_dims_m\(model)"), (other, "[1,0,0]", "chunks_file_in_workspace")] {
                do {
                    _ = try await strings("""
                        INSERT INTO chunks (id, workspace_id, file_id, file_version, position, start_offset, end_offset, text, token_count, model_id, embedding)
                        VALUES ('\(UUID())', '\(workspace)', '\(file)', 1, 2, 0, 3, 'bad', 1, \(model), '\(vector)') RETURNING id::text
                        """)
                    Issue.record("a chunk breaking \(constraint) was stored")
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.constraintName] == constraint, "\(String(reflecting: error))")
                }
            }
        }
    }

    @Test("a model registered after 0016 gets its dimension check with its index; registering again adds nothing")
    func newModelCheck() async throws {
        let db = NvisyDatabase(url: try DatabaseURL(try await TestPostgres.freshDatabase("chunkcheck")), logger: TestPostgres.logger)
        try await withRunningClient(db.client) {
            try await MigrationRunner(client: db.client, migrations: Migrations.all, logger: TestPostgres.logger).migrate()
            let repository = ChunkRepository(client: db.client, logger: TestPostgres.logger)
            let model = try await repository.modelID(name: "new/model", dimensions: 4)
            #expect(try await repository.modelID(name: "new/model", dimensions: 4) == model)
            var checks: [String] = []
            for try await c in try await db.client.query("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = \("chunks_dims_m\(model)")",
                                                         logger: TestPostgres.logger).decode(String.self) { checks.append(c) }
            #expect(checks.count == 1 && checks[0].contains("vector_dims(embedding) = 4"), "\(checks)")
        }
    }
}
