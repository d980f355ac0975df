import Foundation
import Logging
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyServer

/// The background graph builder waits for indexing to go quiet (or for a backlog) before it
/// puts pending chunks into the HNSW graph.
@Suite("Chunk graph service")
struct ChunkGraphServiceTests {
    @Test("pending chunks are graphed once no chunk was stored for the quiet time, or at once past the backlog; never while writes go on below it")
    func quietOrBacklog() async throws {
        let fixture = try await APIFixture.make("chunkgraphsvc")
        let db = fixture.database
        do {
            func exec(_ sql: String) async throws { _ = try await db.client.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger).collect() }
            let ws = UUID(), file = UUID()
            try await exec("INSERT INTO workspaces (id, name) VALUES ('\(ws)', 'kb')")
            try await exec("INSERT INTO files (id, workspace_id, name, object_key, status) VALUES ('\(file)', '\(ws)', 'a.md', 'f/\(file)', 'ready')")
            let model = try await ChunkRepository(client: db.client, logger: TestPostgres.logger).modelID(name: "t/m", dimensions: 2)
            var position = 0
            func store(_ n: Int) async throws {
                for _ in 0..<n {
                    try await exec("""
                        INSERT INTO chunks (id, workspace_id, file_id, file_version, position, start_offset, end_offset, text, token_count, model_id, embedding)
                        VALUES ('\(UUID())', '\(ws)', '\(file)', 1, \(position), 0, 1, 'x', 1, \(model), '[1,\(position)]')
                        """)
                    position += 1
                }
            }
            let graph = ChunkGraph(client: db.client, logger: TestPostgres.logger)
            try await store(5)
            // Written just now, quiet time one minute, backlog above 5: nothing moves.
            let patient = ChunkGraphService(graph: graph, quiet: .seconds(60), backlog: 100, logger: TestPostgres.logger)
            let wait = await patient.step()
            #expect(wait > .seconds(50) && wait <= .seconds(60))
            #expect(try await graph.pending().count == 5)
            // A backlog reached: graphed although writes are recent.
            let bounded = ChunkGraphService(graph: graph, quiet: .seconds(60), backlog: 5, logger: TestPostgres.logger)
            #expect(await bounded.step() == .zero)
            #expect(try await graph.pending().count == 0)
            // Quiet long enough: graphed below the backlog too.
            try await store(3)
            try await Task.sleep(for: .milliseconds(300))
            let quick = ChunkGraphService(graph: graph, quiet: .milliseconds(200), backlog: 100, logger: TestPostgres.logger)
            #expect(await quick.step() == .zero)
            #expect(try await graph.pending().count == 0)
            // Nothing pending: the idle wait.
            #expect(await quick.step() == .seconds(1))
        }
        await fixture.stop()
    }
}
