import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// How ``ChunkSearch`` ranks chunks.
public enum SearchMode: String, Sendable, CaseIterable, Codable {
    /// Cosine distance to the query's embedding (HNSW).
    case vector
    /// Full-text match of the query's words (tsvector, `ts_rank_cd`).
    case text
    /// Reciprocal rank fusion of the two rankings.
    case hybrid
}

/// The query as the embedding model sees it: the model's name (as the indexing run stored it,
/// e.g. `local/embeddings:wordllama`) and the query's vector. The vector may be nil for
/// `text` mode, which only needs the model to know which chunks are the workspace's.
public struct QueryEmbedding: Sendable, Equatable {
    public var model: String
    public var vector: [Float]?

    public init(model: String, vector: [Float]?) {
        self.model = model
        self.vector = vector
    }
}

/// A chunk found by a search, with what a citation needs.
public struct ChunkHit: Sendable, Equatable {
    public var chunkID: UUID
    public var fileID: UUID
    public var fileName: String
    public var fileVersion: Int
    public var position: Int
    public var page: Int?
    public var section: String?
    public var start: Int
    public var end: Int
    public var text: String
    public var tokenCount: Int
    /// vector: cosine similarity (1 − distance); text: `ts_rank_cd`; hybrid: the fused RRF score.
    public var score: Double
    /// 1-based rank in the vector / text ranking, when the chunk was in it.
    public var vectorRank: Int?
    public var textRank: Int?
}

/// Retrieval over the knowledge base: vector (HNSW, cosine, plus an exact scan of the chunks
/// not yet in the graph), text (tsvector) or hybrid (RRF).
///
/// Only chunks of each file's visible generation (file_index_status) count, so a search during
/// re-indexing sees the old chunks or the new ones. Reusable by any caller (the search route,
/// chat context assembly): it needs the query's embedding, not a provider.
public struct ChunkSearch: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// `hnsw.ef_search` for vector queries (pgvector's default is 40; 100 here: 40 gave recall@10 0.86 on 20k real sentences).
    public let efSearch: Int
    /// The RRF constant (60 in the original paper).
    public static let rrfK = 60.0

    public init(client: PostgresClient, logger: Logger, efSearch: Int = 100) {
        self.client = client
        self.logger = logger
        self.efSearch = max(1, min(1000, efSearch))
    }

    /// The `k` best chunks of `workspace` for `query`. `fileIds` / `tags` narrow the scope (a
    /// chunk carries its file's tags; any of `tags` matches). Vector and hybrid need
    /// `embedding.vector`. No chunk indexed by the model: an empty answer.
    public func search(workspace: UUID, query: String, embedding: QueryEmbedding, k: Int, mode: SearchMode,
                       fileIds: [UUID]? = nil, tags: [String]? = nil) async throws(NvisyError) -> [ChunkHit] {
        guard k >= 1 else { return [] }
        if mode != .text, embedding.vector == nil {
            throw NvisyError(.invalidInput, "a \(mode.rawValue) search needs the query's embedding", retry: .permanent)
        }
        do {
            // One read-only snapshot for the rankings and the details: a re-index that commits
            // between them would otherwise delete ranked chunks before their text is read.
            return try await client.withTransaction(logger: logger) { connection in
                _ = try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger).collect()
                guard let model = try await model(embedding, on: connection) else { return [] }
                let scope = Scope(workspace: workspace, modelID: model.id, fileIds: fileIds, tags: tags)
                let depth = mode == .hybrid ? max(k * 4, 50) : k
                var vectorRanked: [(UUID, Double)] = []
                var textRanked: [(UUID, Double)] = []
                if mode != .text, let vector = embedding.vector {
                    guard vector.count == model.dimensions else {
                        throw NvisyError(.invalidInput, "the query embedding has \(vector.count) dimensions; model \(embedding.model) has \(model.dimensions)", retry: .permanent)
                    }
                    vectorRanked = try await vectorRanking(scope, vector: vector, dimensions: model.dimensions, limit: depth, on: connection)
                }
                if mode != .vector { textRanked = try await textRanking(scope, query: query, limit: depth, on: connection) }
                let ranked: [(id: UUID, score: Double, v: Int?, t: Int?)]
                switch mode {
                case .vector: ranked = vectorRanked.enumerated().map { ($1.0, 1 - $1.1, $0 + 1, nil) }
                case .text: ranked = textRanked.enumerated().map { ($1.0, $1.1, nil, $0 + 1) }
                case .hybrid: ranked = Self.fuse(vector: vectorRanked.map(\.0), text: textRanked.map(\.0))
                }
                let top = Array(ranked.prefix(k))
                let rows = try await details(top.map(\.id), on: connection)
                return top.compactMap { r in
                    guard var hit = rows[r.id] else { return nil }
                    hit.score = r.score
                    hit.vectorRank = r.v
                    hit.textRank = r.t
                    return hit
                }
            }
        } catch { throw PostgresErrors.wrap(error, "search chunks") }
    }

    /// Reciprocal rank fusion: score = Σ 1 / (rrfK + rank) over the rankings a chunk is in.
    public static func fuse(vector: [UUID], text: [UUID]) -> [(id: UUID, score: Double, v: Int?, t: Int?)] {
        var entries: [UUID: (score: Double, v: Int?, t: Int?)] = [:]
        for (i, id) in vector.enumerated() {
            entries[id, default: (0, nil, nil)].score += 1 / (rrfK + Double(i + 1))
            entries[id]!.v = i + 1
        }
        for (i, id) in text.enumerated() {
            entries[id, default: (0, nil, nil)].score += 1 / (rrfK + Double(i + 1))
            entries[id]!.t = i + 1
        }
        return entries.map { ($0.key, $0.value.score, $0.value.v, $0.value.t) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : ($0.v ?? .max, $0.t ?? .max) < ($1.v ?? .max, $1.t ?? .max) }
    }

    /// Words too common to tell chunks apart (English; the 'simple' configuration keeps every
    /// word, so a question's "how", "the", "is" would otherwise match nearly every chunk).
    static let stopWords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "in", "is", "it", "its",
        "of", "on", "or", "that", "the", "this", "to", "was", "we", "what", "when", "where", "which", "who", "why", "with", "you",
    ]

    /// The query's words as an OR tsquery (`'a' | 'b'`): any word may match, more matches rank
    /// higher. Only letters and digits survive, so the text is always a valid tsquery; stop
    /// words are dropped.
    public static func orQuery(_ query: String) -> String? {
        var seen = Set<String>()
        var terms: [String] = []
        for word in query.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }) where word.count >= 2 {
            let w = String(word)
            if stopWords.contains(w) { continue }
            if seen.insert(w).inserted { terms.append("'\(w)'") }
            if terms.count == 64 { break }
        }
        return terms.isEmpty ? nil : terms.joined(separator: " | ")
    }

    struct Scope {
        var workspace: UUID
        var modelID: Int
        var fileIds: [UUID]?
        var tags: [String]?
    }

    func model(_ embedding: QueryEmbedding, on connection: PostgresConnection) async throws -> (id: Int, dimensions: Int)? {
        let rows: PostgresRowSequence
        if let vector = embedding.vector {
            rows = try await connection.query("""
                SELECT id, dimensions FROM embedding_models WHERE name = \(embedding.model) AND dimensions = \(Int32(vector.count))
                """, logger: logger)
        } else {
            rows = try await connection.query("""
                SELECT id, dimensions FROM embedding_models WHERE name = \(embedding.model) ORDER BY id DESC LIMIT 1
                """, logger: logger)
        }
        for try await (id, dims) in rows.decode((Int32, Int32).self) { return (Int(id), Int(dims)) }
        return nil
    }

    /// The visible-generation join and the scope filters, shared by both rankings. The model id
    /// and dimensions are integers from the database: literal, so the planner matches the
    /// model's partial HNSW index.
    func filters(_ scope: Scope) -> String {
        var sql = """
            JOIN file_index_status s ON s.file_id = c.file_id AND s.model_id = c.model_id AND s.status = 'indexed'
                                    AND s.index_run IS NOT DISTINCT FROM c.index_run
            WHERE c.model_id = \(scope.modelID) AND c.workspace_id = $1
            """
        if scope.fileIds != nil { sql += " AND c.file_id = ANY($2)" }
        if scope.tags != nil { sql += " AND c.tags && $3" }
        return sql
    }

    func bindings(_ scope: Scope, _ extra: (inout PostgresBindings) throws -> Void) throws -> PostgresBindings {
        var b = PostgresBindings()
        b.append(scope.workspace)
        b.append(scope.fileIds ?? [])
        b.append(scope.tags ?? [])
        try extra(&b)
        return b
    }

    /// The graph's ranking (HNSW over graphed chunks) merged with an exact ranking of the
    /// chunks still waiting for the graph (migration 0015): a chunk is in exactly one of the two
    /// in the transaction's snapshot, so the merge has no duplicates and misses none.
    func vectorRanking(_ scope: Scope, vector: [Float], dimensions: Int, limit: Int, on connection: PostgresConnection) async throws -> [(UUID, Double)] {
        try await setSearchParameters(limit: limit, on: connection)
        let b = try bindings(scope) { $0.append(ChunkRepository.vectorText(vector)) }
        var out: [(UUID, Double)] = []
        for try await (id, d) in try await connection.query(PostgresQuery(unsafeSQL: vectorSQL(scope, dimensions: dimensions, limit: limit), binds: b),
                                                            logger: logger).decode((UUID, Double).self) {
            out.append((id, d))
        }
        // Sorting back on for the exact scan and the text ranking that may follow.
        _ = try await connection.query("SET LOCAL enable_sort = on", logger: logger).collect()
        for try await (id, d) in try await connection.query(PostgresQuery(unsafeSQL: pendingSQL(scope, dimensions: dimensions, limit: limit), binds: b),
                                                            logger: logger).decode((UUID, Double).self) {
            out.append((id, d))
        }
        // Relaxed order (iterative scans) may be slightly out of order: sort here, not in SQL.
        return Array(out.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0.uuidString < $1.0.uuidString }.prefix(limit))
    }

    /// Iterative scans (pgvector ≥ 0.8) keep reading the index while filters drop rows, so a
    /// narrow scope still fills k (relaxed order: the caller sorts). Sorting is off for the
    /// query: the only plan without a sort is the model's HNSW index scan. Without this, stale
    /// statistics on file_index_status (e.g. right after a bulk load) make the planner start from
    /// the status table and sort every chunk of the workspace by distance — exact, but O(n).
    func setSearchParameters(limit: Int, on connection: PostgresConnection) async throws {
        _ = try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL hnsw.ef_search = \(max(efSearch, limit))"), logger: logger).collect()
        _ = try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL hnsw.iterative_scan = relaxed_order"), logger: logger).collect()
        _ = try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL enable_sort = off"), logger: logger).collect()
    }

    /// The graph's ranking: `graphed` in the filter matches the model's partial HNSW index.
    func vectorSQL(_ scope: Scope, dimensions: Int, limit: Int) -> String {
        """
        SELECT c.id, c.embedding::vector(\(dimensions)) <=> $4::vector(\(dimensions)) AS distance
        FROM chunks c \(filters(scope)) AND c.graphed
        ORDER BY distance LIMIT \(limit)
        """
    }

    /// The exact ranking of the scope's pending chunks (through the `chunks_pending` index).
    func pendingSQL(_ scope: Scope, dimensions: Int, limit: Int) -> String {
        """
        SELECT c.id, c.embedding::vector(\(dimensions)) <=> $4::vector(\(dimensions)) AS distance
        FROM chunks c \(filters(scope)) AND NOT c.graphed
        ORDER BY distance LIMIT \(limit)
        """
    }

    /// PostgreSQL's plan for a `k`-nearest vector query of `workspace` (for benchmarks and
    /// diagnostics: shows whether the model's HNSW index is used).
    public func explainVector(workspace: UUID, model: String, vector: [Float], k: Int) async throws(NvisyError) -> String {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                guard let m = try await self.model(QueryEmbedding(model: model, vector: vector), on: connection) else { return "no such model" }
                let scope = Scope(workspace: workspace, modelID: m.id, fileIds: nil, tags: nil)
                try await setSearchParameters(limit: k, on: connection)
                let b = try bindings(scope) { $0.append(ChunkRepository.vectorText(vector)) }
                var lines: [String] = []
                for try await line in try await connection.query(PostgresQuery(unsafeSQL: "EXPLAIN " + vectorSQL(scope, dimensions: m.dimensions, limit: k), binds: b),
                                                                 logger: logger).decode(String.self) {
                    lines.append(line)
                }
                return lines.joined(separator: "\n")
            }
        } catch { throw PostgresErrors.wrap(error, "explain search") }
    }

    /// Most OR matches ranked per query: a common word can match most of a large workspace, and
    /// ranking every match costs a heap read each. Chunks with all the words are ranked first
    /// and uncapped (that query is selective); the OR matches fill up from this many candidates.
    public static let textCandidates = 2000

    func textRanking(_ scope: Scope, query: String, limit: Int, on connection: PostgresConnection) async throws -> [(UUID, Double)] {
        guard let any = Self.orQuery(query) else { return [] }
        let all = any.replacingOccurrences(of: " | ", with: " & ")
        // Graphed chunks through the GIN index on `tsv`; pending ones (no `tsv` yet, migration
        // 0015) by their text's tsvector made here, with the same configuration, so the ranks of
        // both compare.
        func ranked(_ tsquery: String, cap: Int?) async throws -> [(UUID, Double)] {
            let candidates = cap.map { "LIMIT \($0)" } ?? ""
            let b = try bindings(scope) { $0.append(tsquery) }
            var out: [(UUID, Double)] = []
            for vectors in ["c.tsv FROM chunks c \(filters(scope)) AND c.graphed AND c.tsv",
                            "to_tsvector('simple', c.text) AS tsv FROM chunks c \(filters(scope)) AND NOT c.graphed AND to_tsvector('simple', c.text)"] {
                let sql = """
                    SELECT id, ts_rank_cd(tsv, to_tsquery('simple', $4))::float8 AS rank FROM (
                        SELECT c.id, \(vectors) @@ to_tsquery('simple', $4) \(candidates)) AS matches
                    ORDER BY rank DESC, id LIMIT \(limit)
                    """
                for try await (id, rank) in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: b), logger: logger).decode((UUID, Double).self) {
                    out.append((id, rank))
                }
            }
            return Array(out.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.uuidString < $1.0.uuidString }.prefix(limit))
        }
        var out = all == any ? [] : try await ranked(all, cap: nil)
        if out.count < limit {
            let seen = Set(out.map(\.0))
            out += try await ranked(any, cap: Self.textCandidates).filter { !seen.contains($0.0) }.prefix(limit - out.count)
        }
        return out
    }

    func details(_ ids: [UUID], on connection: PostgresConnection) async throws -> [UUID: ChunkHit] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await connection.query("""
            SELECT c.id, c.file_id, f.name, c.file_version, c.position, c.page, c.section, c.start_offset, c.end_offset, c.text, c.token_count
            FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id = ANY(\(ids))
            """, logger: logger)
        var out: [UUID: ChunkHit] = [:]
        for try await (id, file, name, version, position, page, section, start, end, text, tokens) in rows.decode(
            (UUID, UUID, String, Int32, Int32, Int32?, String?, Int32, Int32, String, Int32).self) {
            out[id] = ChunkHit(chunkID: id, fileID: file, fileName: name, fileVersion: Int(version), position: Int(position),
                               page: page.map(Int.init), section: section, start: Int(start), end: Int(end), text: text,
                               tokenCount: Int(tokens), score: 0, vectorRank: nil, textRank: nil)
        }
        return out
    }
}
