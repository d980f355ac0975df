import Foundation
import NvisyCore
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyPostgres

/// ChunkRepository's write path (the binary insert, the upsert for a batch written again, the generation
/// switch) on the real embedded PostgreSQL + pgvector.
@Suite("Chunk repository")
struct ChunkRepositoryTests {
    /// A migrated database with a workspace, a file in it (tags and version 2) and one outside it.
    struct Fixture {
        let client: PostgresClient
        let repository: ChunkRepository
        let workspace: UUID
        let file: UUID
        let foreignFile: UUID
        let model: Int

        func strings(_ sql: String) async throws -> [String] {
            var out: [String] = []
            for try await s in try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger).decode(String.self) { out.append(s) }
            return out
        }
    }

    /// Also used by ChunkGraphTests.
    func withFixture(_ body: (Fixture) async throws -> Void) async throws {
        let db = NvisyDatabase(url: try DatabaseURL(try await TestPostgres.freshDatabase("chunkrepo")), logger: TestPostgres.logger)
        try await withRunningClient(db.client) {
            try await MigrationRunner(client: db.client, migrations: Migrations.all, logger: TestPostgres.logger).migrate()
            let ws = UUID(), other = UUID(), file = UUID(), foreign = UUID()
            for sql in ["INSERT INTO workspaces (id, name) VALUES ('\(ws)', 'kb'), ('\(other)', 'other')",
                        """
                        INSERT INTO files (id, workspace_id, name, object_key, status, version, tags)
                        VALUES ('\(file)', '\(ws)', 'a.md', 'f/\(file)', 'ready', 2, ARRAY['plain', 'with,comma', 'with "quote"', 'back\\slash', '{brace}'])
                        """,
                        "INSERT INTO files (id, workspace_id, name, object_key, status) VALUES ('\(foreign)', '\(other)', 'b.md', 'f/\(foreign)', 'ready')"] {
                _ = try await db.client.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger)
            }
            let repository = ChunkRepository(client: db.client, logger: TestPostgres.logger)
            let model = try await repository.modelID(name: "test/model", dimensions: 3)
            try await body(Fixture(client: db.client, repository: repository, workspace: ws, file: file, foreignFile: foreign, model: model))
        }
    }

    static let texts = ["plain text", "tab\there, newline\nthere, carriage\rreturn", "back\\slash \\N and \\t literally", "ünïcödé ✓ 🚀"]

    func chunks(file: UUID, run: UUID, texts: [String] = texts, section: String? = "Intro\tPart") -> [NewChunk] {
        texts.enumerated().map { i, t in
            NewChunk(fileID: file, fileVersion: 1, indexRun: run, position: i, total: texts.count, page: i == 0 ? nil : i,
                     section: i == 1 ? nil : section, start: i * 10, end: i * 10 + t.count, text: t, tokenCount: i + 1,
                     vector: [Float(i + 1), 0.5, -0.25])
        }
    }

    @Test("a write stores every field exactly (tabs, newlines, backslashes, Unicode, NULLs, the file's version and tags); the last chunk makes the file visible")
    func copyRoundTrip() async throws {
        try await withFixture { f in
            let run = UUID()
            let all = chunks(file: f.file, run: run)
            // The first half: stored, not yet visible.
            #expect(try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: Array(all[..<2])) == [])
            #expect(try await f.repository.status(file: f.file).isEmpty)
            #expect(try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: Array(all[2...])) == [f.file])
            let rows = try await f.strings("""
                SELECT concat_ws('|', position, coalesce(page::text, 'null'), coalesce(section, 'null'), start_offset, end_offset, text,
                                 token_count, file_version, array_to_string(tags, '/'), embedding::text, tsv IS NULL AND NOT graphed, index_run)
                FROM chunks ORDER BY position
                """)
            let tags = "plain/with,comma/with \"quote\"/back\\slash/{brace}"
            let expected = all.map { c in
                let v = "[\(c.position + 1),0.5,-0.25]"
                return "\(c.position)|\(c.page.map(String.init) ?? "null")|\(c.section ?? "null")|\(c.start)|\(c.end)|\(c.text)|\(c.tokenCount)|2|\(tags)|\(v)|t|\(run.uuidString.lowercased())"
            }
            #expect(rows == expected)
            // Stored pending (migration 0015): the graph builder fills the text index and the graph.
            try await ChunkGraph(client: f.client, logger: TestPostgres.logger).drain()
            #expect(try await f.strings("SELECT count(*)::text FROM chunks WHERE graphed AND tsv <> ''::tsvector") == ["\(all.count)"])
            let status = try await f.repository.status(file: f.file)
            #expect(status.map(\.chunkCount) == [all.count])
            #expect(status.map(\.indexRun) == [run])
        }
    }

    @Test("a batch written again (a retried write) overwrites its rows through the upsert: no duplicate, no error")
    func writtenTwice() async throws {
        try await withFixture { f in
            let run = UUID()
            var all = chunks(file: f.file, run: run)
            try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: Array(all[..<3]))
            all[1].text = "changed on the second delivery"
            // The redelivered batch overlaps the stored rows and brings the last chunk with it.
            #expect(try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: Array(all[1...])) == [f.file])
            #expect(try await f.strings("SELECT count(*)::text FROM chunks") == ["\(all.count)"])
            #expect(try await f.strings("SELECT text FROM chunks WHERE position = 1") == ["changed on the second delivery"])
        }
    }

    @Test("a new generation replaces the old one when complete; chunks of another workspace's file are skipped; NUL is refused")
    func generationsAndRefusals() async throws {
        try await withFixture { f in
            let first = UUID(), second = UUID()
            try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: chunks(file: f.file, run: first))
            let next = chunks(file: f.file, run: second, texts: ["new one", "new two"])
            try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: [next[0]])
            // Incomplete: the first generation is still the visible one, and still stored.
            #expect(try await f.strings("SELECT DISTINCT index_run::text FROM chunks ORDER BY 1").count == 2)
            #expect(try await f.repository.status(file: f.file).map(\.indexRun) == [first])
            try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: [next[1]])
            #expect(try await f.strings("SELECT text FROM chunks ORDER BY position") == ["new one", "new two"])
            #expect(try await f.repository.status(file: f.file).map(\.indexRun) == [second])

            let foreign = chunks(file: f.foreignFile, run: UUID())
            #expect(try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: foreign) == [])
            #expect(try await f.strings("SELECT count(*)::text FROM chunks WHERE file_id = '\(f.foreignFile)'") == ["0"])

            let bad = chunks(file: f.file, run: UUID(), texts: ["fine", "nul \u{0} inside"])
            await #expect(throws: NvisyError.self) { try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: bad) }
            #expect(try await f.strings("SELECT count(*)::text FROM chunks") == ["2"])
        }
    }

    @Test("a big write is split between two concurrent transactions; a file spanning both still becomes visible, exactly once")
    func parallelParts() async throws {
        try await withFixture { f in
            let files = [UUID(), UUID(), UUID()]
            for id in files {
                _ = try await f.client.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO files (id, workspace_id, name, object_key, status) VALUES ('\(id)', '\(f.workspace)', '\(id).md', 'f/\(id)', 'ready')
                    """), logger: TestPostgres.logger)
            }
            let run = UUID()
            // 3 files of a third of parallelFrom (rounded up): two parts, and the middle file is in both.
            let perFile = (ChunkRepository.parallelFrom + 2) / 3
            #expect(files.count * perFile >= ChunkRepository.parallelFrom && ChunkRepository.parallelWriters == 2)
            let rows = files.flatMap { id in chunks(file: id, run: run, texts: (0..<perFile).map { "chunk \($0) of \(id)" }) }
            for _ in 0..<2 {  // the second time, every part meets its earlier copy and takes the upsert
                let visible = try await f.repository.write(workspace: f.workspace, modelID: f.model, chunks: rows)
                #expect(Set(visible) == Set(files))
                #expect(try await f.strings("SELECT count(*)::text FROM chunks") == ["\(files.count * perFile)"])
                for id in files { #expect(try await f.repository.status(file: id).map(\.chunkCount) == [perFile]) }
            }
        }
    }

    @Test("vectors go in bit for bit, written in binary and as a query's text (hexadecimal floats): subnormals, extremes, negative zero; a non-finite value is stored as 0; every row gets its own v7 id")
    func vectorsExact() async throws {
        try await withFixture { f in
            var rng = SystemRandomNumberGenerator()
            let edges: [Float] = [1, -1, 0.1, -0.0, 0, 1.0 / 3, .ulpOfOne, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
                                  .leastNormalMagnitude, Float.leastNormalMagnitude.nextDown, .greatestFiniteMagnitude,
                                  -.greatestFiniteMagnitude, 0x1p-127, 0x1.fffffep-3, 1e-30, 3.4e37]
            let random = (0..<64).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }.filter(\.isFinite)
            let vectors = [edges + Array(random.prefix(64 - edges.count)), [Float.nan, .infinity, -.infinity] + Array(repeating: 0.5, count: 61)]
            let model = try await f.repository.modelID(name: "test/exact", dimensions: 64)
            let run = UUID()
            let rows = vectors.enumerated().map { i, v in
                NewChunk(fileID: f.file, fileVersion: 1, indexRun: run, position: i, total: vectors.count, page: nil, section: nil,
                         start: 0, end: 1, text: "v\(i)", tokenCount: 1, vector: v)
            }
            try await f.repository.write(workspace: f.workspace, modelID: model, chunks: rows)
            var stored: [[Float]] = []
            var ids: [UUID] = []
            for try await (id, v) in try await f.client.query("SELECT id, embedding::real[] FROM chunks WHERE model_id = \(model) ORDER BY position",
                                                             logger: TestPostgres.logger).decode((UUID, [Float]).self) {
                ids.append(id)
                stored.append(v)
            }
            #expect(stored.count == 2)
            #expect(stored.first.map { $0.map(\.bitPattern) } == vectors[0].map(\.bitPattern))
            #expect(stored.last.map { Array($0.prefix(3)) } == [0, 0, 0])
            #expect(Set(ids).count == 2 && ids.allSatisfy { $0.version == 7 })
            // The text form a search sends its query vector in.
            var parsed: [Float] = []
            for try await v in try await f.client.query("SELECT (\(ChunkRepository.vectorText(vectors[0])))::vector::real[]",
                                                       logger: TestPostgres.logger).decode([Float].self) { parsed = v }
            #expect(parsed.map(\.bitPattern) == vectors[0].map(\.bitPattern))
        }
    }
}
