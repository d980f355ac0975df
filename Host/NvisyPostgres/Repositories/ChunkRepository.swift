import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// One chunk of a file to store: its text, where it sits in the file, and its embedding.
public struct NewChunk: Sendable, Equatable {
    public var fileID: UUID
    public var fileVersion: Int
    /// The run that indexes the file: the chunk's generation (see migration 0010).
    public var indexRun: UUID
    /// Order of the chunk in its file, from 0.
    public var position: Int
    /// How many chunks the file has in this generation (the last one makes it visible).
    public var total: Int
    public var page: Int?
    public var section: String?
    public var start: Int
    public var end: Int
    public var text: String
    public var tokenCount: Int
    public var vector: [Float]

    public init(fileID: UUID, fileVersion: Int, indexRun: UUID, position: Int, total: Int, page: Int?, section: String?,
                start: Int, end: Int, text: String, tokenCount: Int, vector: [Float]) {
        self.fileID = fileID
        self.fileVersion = fileVersion
        self.indexRun = indexRun
        self.position = position
        self.total = total
        self.page = page
        self.section = section
        self.start = start
        self.end = end
        self.text = text
        self.tokenCount = tokenCount
        self.vector = vector
    }
}

/// A row of `file_index_status`: the visible generation of a file's chunks for one model.
public struct FileIndexStatusRecord: Sendable, Equatable {
    public var fileID: UUID
    public var modelName: String
    public var dimensions: Int
    public var fileVersion: Int
    public var status: String
    public var reason: String?
    public var chunkCount: Int
    public var indexRun: UUID?
    public var updatedAt: Date
}

/// Writes chunks and switches a file's visible generation (the knowledge base's write side).
///
/// A file's chunks arrive in batches under their run; `write` inserts a batch and, in the same
/// transaction, makes every file whose last chunk arrived visible: its status names the new
/// generation, and the file's other generations and the chunks of older versions of the same
/// file name are deleted. A reader therefore sees the old chunks or the new ones, never a mix.
public struct ChunkRepository: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// pgvector's type OIDs in this database, for binary vector parameters.
    private let vectorTypes = VectorTypes.Cache()

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The id of embedding model `name` with `dimensions`, registering it and making its HNSW
    /// index on first use (safe from several hosts at once).
    public func modelID(name: String, dimensions: Int) async throws(NvisyError) -> Int {
        guard (1...2000).contains(dimensions) else {
            throw NvisyError(.invalidInput, "embedding model \(name) answers \(dimensions)-dimensional vectors; the index supports 1 to 2000", retry: .permanent)
        }
        do {
            let rows = try await client.query("""
                WITH made AS (
                    INSERT INTO embedding_models (name, dimensions) VALUES (\(name), \(Int32(dimensions)))
                    ON CONFLICT (name, dimensions) DO NOTHING RETURNING id)
                SELECT id FROM made UNION ALL SELECT id FROM embedding_models WHERE name = \(name) AND dimensions = \(Int32(dimensions))
                """, logger: logger)
            var id: Int32?
            for try await v in rows.decode(Int32.self) { id = v; break }
            guard let id else { throw NvisyError.internal("embedding model \(name) was not registered") }
            _ = try await client.query("SELECT nvisy_chunk_index(\(id))", logger: logger).collect()
            return Int(id)
        } catch { throw PostgresErrors.wrap(error, "register embedding model") }
    }

    /// Chunks per write from which the rows are split between ``parallelWriters`` transactions:
    /// above the knowledge-base sink's writes (512), so only a bigger write (a run with a larger
    /// `sinkBatchSize`) is split. Indexing writes beside a model, and two backends writing at
    /// once took both cores from its tokenizer threads: one transaction per 512-chunk write gave
    /// the better indexing ratio in 12 of 18 alternating rounds, the worse in 2 (medians
    /// 0.83–0.84 → 0.85), where the split only shortened a write the model was not waiting for.
    static let parallelFrom = 1024
    /// Transactions a big write is split into, each on its own connection: the server parses,
    /// checks and indexes a statement's rows in the backend of its connection, so two
    /// connections write on two cores.
    static let parallelWriters = 2

    /// Stores `chunks` (of files in `workspace`, embedded by model `modelID`) and makes visible
    /// each file whose generation is complete. Answers the files made visible. A chunk of a file
    /// outside the workspace is skipped (the sink cannot write into another workspace).
    ///
    /// The rows go in with one `INSERT … SELECT FROM unnest(…)` whose columns are binary arrays
    /// (vectors as pgvector's binary form, ``VectorArray``: no float is formatted or parsed); a
    /// write of ``parallelFrom`` chunks or more is split into ``parallelWriters`` contiguous parts
    /// written concurrently, each in its own transaction. A part that was written before (a
    /// retried write, a resumed run) meets the unique key of its earlier copy and is then written
    /// again as an upsert that overwrites the same rows, so the result is the same either way.
    /// When the call throws, some parts may be stored: the caller writes the batch again, which
    /// that upsert absorbs.
    @discardableResult
    public func write(workspace: UUID, modelID: Int, chunks: [NewChunk]) async throws(NvisyError) -> [UUID] {
        guard !chunks.isEmpty else { return [] }
        // A byte scan: `String.contains(_:)` with a string argument goes through Foundation's
        // UTF-16 search, which cost more than writing the row.
        for c in chunks where c.text.utf8.contains(0) || (c.section?.utf8.contains(0) ?? false) {
            throw NvisyError(.invalidInput, "chunk \(c.position) of file \(c.fileID) holds a NUL character, which PostgreSQL text refuses", retry: .permanent)
        }
        let parts = chunks.count >= Self.parallelFrom ? Self.parallelWriters : 1
        let size = (chunks.count + parts - 1) / parts
        do {
            return try await withThrowingTaskGroup(of: [UUID].self) { group in
                for start in stride(from: 0, to: chunks.count, by: size) {
                    let part = Array(chunks[start..<min(start + size, chunks.count)])
                    group.addTask { try await writePart(part, workspace: workspace, modelID: modelID) }
                }
                var visible: [UUID] = []
                for try await files in group { visible += files }
                return visible
            }
        } catch {
            vectorTypes.forget()  // in case the extension was made again: look its types up anew
            throw PostgresErrors.wrap(error, "write chunks")
        }
    }

    /// One transaction: the insert, else (a part written before) the overwriting insert; then the
    /// publishing checks.
    private func writePart(_ chunks: [NewChunk], workspace: UUID, modelID: Int) async throws -> [UUID] {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await insert(chunks, workspace: workspace, modelID: modelID, overwrite: false, on: connection)
                return try await publish(chunks, modelID: modelID, on: connection)
            }
        } catch where PostgresErrors.isUniqueViolation(error) {
            return try await client.withTransaction(logger: logger) { connection in
                try await insert(chunks, workspace: workspace, modelID: modelID, overwrite: true, on: connection)
                return try await publish(chunks, modelID: modelID, on: connection)
            }
        }
    }

    /// Inserts `chunks` (of files in `workspace`; the others are skipped) in one statement, every
    /// column a binary array; with `overwrite`, a chunk already stored (a batch written before)
    /// is overwritten instead of violating the generation's unique key.
    private func insert(_ chunks: [NewChunk], workspace: UUID, modelID: Int, overwrite: Bool, on connection: PostgresConnection) async throws {
        let types = try await vectorTypes.get(on: connection, logger: logger)
        let conflict = overwrite ? """
            ON CONFLICT (file_id, model_id, index_run, position) DO UPDATE SET
                text = EXCLUDED.text, embedding = EXCLUDED.embedding, page = EXCLUDED.page, section = EXCLUDED.section,
                start_offset = EXCLUDED.start_offset, end_offset = EXCLUDED.end_offset, token_count = EXCLUDED.token_count,
                graphed = false, tsv = NULL  -- new text and vector: back to pending for the graph builder
            """ : ""
        _ = try await connection.query("""
            INSERT INTO chunks (id, workspace_id, file_id, file_version, index_run, position, page, section, start_offset,
                                end_offset, text, token_count, tags, model_id, embedding)
            SELECT u.id, f.workspace_id, u.file_id, f.version, u.run, u.position, NULLIF(u.page, -1), NULLIF(u.section, ''),
                   u.start_offset, u.end_offset, u.text, u.tokens, f.tags, \(Int32(modelID)), u.embedding
            FROM unnest(\(UUID.v7Batch(count: chunks.count)), \(chunks.map(\.fileID)), \(chunks.map(\.indexRun)),
                        \(chunks.map { Int32($0.position) }), \(chunks.map { Int32($0.page ?? -1) }), \(chunks.map { $0.section ?? "" }),
                        \(chunks.map { Int32($0.start) }), \(chunks.map { Int32($0.end) }), \(chunks.map(\.text)),
                        \(chunks.map { Int32($0.tokenCount) }), \(VectorArray(vectors: chunks.map(\.vector), types: types)))
                 AS u(id, file_id, run, position, page, section, start_offset, end_offset, text, tokens, embedding)
            JOIN files f ON f.id = u.file_id AND f.workspace_id = \(workspace)
            \(unescaped: conflict)
            """, logger: logger).collect()
    }

    /// Makes visible each file of `chunks` whose generation is now complete (inside the write's transaction).
    private func publish(_ chunks: [NewChunk], modelID: Int, on connection: PostgresConnection) async throws -> [UUID] {
        // Every file's publishing lock first, in one global order: concurrent parts of a write
        // (and other runs) that share files then never wait on each other in a cycle. A part
        // holds its locks until it commits, so the part that counts a shared file last sees the
        // other's rows (READ COMMITTED: each statement after the lock reads a fresh snapshot).
        let keys = Array(Set(chunks.map(\.fileID.uuidString)))
        _ = try await connection.query("""
            SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT hashtext(f) AS k FROM unnest(\(keys)) AS f ORDER BY 1) AS l
            """, logger: logger).collect()
        var seen = Set<String>()
        let candidates = chunks.filter { seen.insert("\($0.fileID)|\($0.indexRun)").inserted }
        return try await Self.publishComplete(candidates.map { ($0.fileID, $0.indexRun, $0.total) }, modelID: modelID,
                                              on: connection, logger: logger)
    }

    /// Makes visible each generation `(file, run)` whose `total` chunks are all stored and whose
    /// run no newer request for the file replaced; answers those files. Runs inside the caller's
    /// transaction, which holds the files' publishing locks. Set-based: four statements however
    /// many files a write completes (one round trip per file and step cost more than the rows).
    static func publishComplete(_ candidates: [(file: UUID, run: UUID, total: Int)], modelID: Int,
                                on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        guard !candidates.isEmpty else { return [] }
        let m = Int32(modelID)
        var ready: [(file: UUID, run: UUID, total: Int32)] = []
        for try await (file, run, total) in try await connection.query("""
            SELECT c.file, c.run, c.total
            FROM unnest(\(candidates.map(\.file)), \(candidates.map(\.run)), \(candidates.map { Int32($0.total) })) AS c(file, run, total)
            WHERE (SELECT count(*) FROM chunks k
                   WHERE k.file_id = c.file AND k.model_id = \(m) AND k.index_run = c.run AND k.position < c.total) >= c.total
              AND NOT EXISTS (SELECT 1 FROM file_index_requests r WHERE r.file_id = c.file AND r.run_id <> c.run)
            """, logger: logger).decode((UUID, UUID, Int32).self) {
            ready.append((file, run, total))
        }
        guard !ready.isEmpty else { return [] }
        let files = ready.map(\.file), runs = ready.map(\.run), totals = ready.map(\.total)
        _ = try await connection.query("""
            INSERT INTO file_index_status (file_id, model_id, workspace_id, file_version, status, reason, chunk_count, index_run, updated_at)
            SELECT f.id, \(m), f.workspace_id, f.version, 'indexed', NULL, r.total, r.run, now()
            FROM unnest(\(files), \(runs), \(totals)) AS r(file, run, total) JOIN files f ON f.id = r.file
            ON CONFLICT (file_id, model_id) DO UPDATE SET file_version = EXCLUDED.file_version, status = 'indexed', reason = NULL,
                chunk_count = EXCLUDED.chunk_count, index_run = EXCLUDED.index_run, updated_at = now()
            """, logger: logger).collect()
        // Other generations of these files, and leftovers past the end of the new ones.
        _ = try await connection.query("""
            DELETE FROM chunks k USING unnest(\(files), \(runs), \(totals)) AS r(file, run, total)
            WHERE k.file_id = r.file AND k.model_id = \(m) AND (k.index_run IS DISTINCT FROM r.run OR k.position >= r.total)
            """, logger: logger).collect()
        // Older versions of the same file names: the new versions replace them in the knowledge base.
        _ = try await connection.query("""
            WITH older AS (
                SELECT o.id FROM files o JOIN files n ON n.id = ANY(\(files))
                WHERE o.workspace_id = n.workspace_id AND o.name = n.name AND o.version < n.version),
            gone AS (DELETE FROM chunks WHERE model_id = \(m) AND file_id IN (SELECT id FROM older))
            DELETE FROM file_index_status WHERE model_id = \(m) AND file_id IN (SELECT id FROM older)
            """, logger: logger).collect()
        return files
    }

    /// The visible generation of `file` for each model that indexed it.
    public func status(file: UUID) async throws(NvisyError) -> [FileIndexStatusRecord] {
        do {
            let rows = try await client.query("""
                SELECT s.file_id, m.name, m.dimensions, s.file_version, s.status, s.reason, s.chunk_count, s.index_run, s.updated_at
                FROM file_index_status s JOIN embedding_models m ON m.id = s.model_id
                WHERE s.file_id = \(file) ORDER BY s.updated_at DESC
                """, logger: logger)
            var out: [FileIndexStatusRecord] = []
            for try await (f, name, dims, version, status, reason, count, run, updated) in rows.decode(
                (UUID, String, Int32, Int32, String, String?, Int32, UUID?, Date).self) {
                out.append(FileIndexStatusRecord(fileID: f, modelName: name, dimensions: Int(dims), fileVersion: Int(version), status: status,
                                                 reason: reason, chunkCount: Int(count), indexRun: run, updatedAt: updated))
            }
            return out
        } catch { throw PostgresErrors.wrap(error, "read index status") }
    }

    /// pgvector's text form of a vector, every float exact (``VectorText``): `[0x19999ap-27,...]`.
    public static func vectorText(_ vector: [Float]) -> String {
        var buffer = ByteBuffer()
        VectorText.write(vector, to: &buffer)
        return String(buffer: buffer)
    }
}
