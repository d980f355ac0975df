import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
@testable import NvisyRuntime

/// A fresh database on the embedded PostgreSQL with nvisy's migrations applied, its pool
/// running; `body` gets the database URL, the pool and an executor storing checkpoints in it.
func withRuntimeDatabase<T: Sendable>(_ body: (String, PostgresClient, PipelineExecutor) async throws -> T) async throws -> T {
    let url = try await TestPostgres.freshDatabase("rt")
    let db = NvisyDatabase(url: try DatabaseURL(url), logger: RuntimeTestSupport.logger)
    let pool = Task { await db.client.run() }
    defer { pool.cancel() }
    do {
        try await db.migrate()
        let executor = PipelineExecutor(host: try await RuntimeTestSupport.host(),
                                        checkpoints: PostgresCheckpointStore(client: db.client, logger: RuntimeTestSupport.logger),
                                        logger: RuntimeTestSupport.logger)
        let result = try await body(url, db.client, executor)
        pool.cancel()
        await pool.value
        return result
    } catch {
        pool.cancel()
        await pool.value
        throw error
    }
}

extension PostgresClient {
    /// Runs `sql` (no parameters).
    func exec(_ sql: String) async throws {
        try await query(PostgresQuery(unsafeSQL: sql), logger: RuntimeTestSupport.logger)
    }

    /// The first column of the first row as an integer.
    func int(_ sql: String) async throws -> Int {
        let rows = try await query(PostgresQuery(unsafeSQL: sql), logger: RuntimeTestSupport.logger)
        for try await v in rows.decode(Int.self) { return v }
        throw NvisyError.internal("no row for \(sql)")
    }
}

/// Writes `files` CSV files of `rows` rows each (`id,name,age`; ids from 0), answers the directory.
func writeCSVs(files: Int, rows: Int, badEvery: Int? = nil) throws -> URL {
    let dir = try RuntimeTestSupport.tempDirectory("csv")
    for f in 0..<files {
        var text = "id,name,age\n"
        for r in 0..<rows {
            let id = f * rows + r
            let age = badEvery.map { id % $0 == $0 - 1 } == true ? -1 : id % 90
            text += "\(id),person \(id),\(age)\n"
        }
        try Data(text.utf8).write(to: dir.appendingPathComponent(String(format: "people-%03d.csv", f)))
    }
    return dir
}

/// A compiler over the test registry and these connections.
func compile(_ d: PipelineDefinition, _ connections: [String: ResolvedConnection]) async throws -> ExecutionPlan {
    try await PipelineCompiler(host: try await RuntimeTestSupport.host(), connections: StaticConnectionResolver(connections)).compile(d)
}

/// files → formats/csv → (filter) → postgres/table.
func csvPipeline(filter: JSONValue? = nil) -> PipelineDefinition {
    var nodes: [PipelineDefinition.Node] = [.source("in", connection: "files"), .transform("csv", "formats/csv"), .sink("out", connection: "table")]
    var edges = [PipelineDefinition.Edge(from: "in", to: "csv")]
    if let filter {
        nodes.append(.transform("keep", "filter", params: ["where": filter]))
        edges += [.init(from: "csv", to: "keep"), .init(from: "keep", to: "out")]
    } else {
        edges.append(.init(from: "csv", to: "out"))
    }
    return PipelineDefinition(nodes: nodes, edges: edges)
}

func filesConnection(_ dir: URL, glob: String = "*.csv") -> ResolvedConnection {
    ResolvedConnection(provider: "filesystem/files", config: ["root": .string(dir.path), "glob": .string(glob)])
}

func tableConnection(_ url: String, _ table: String, pageSize: Int? = nil) -> ResolvedConnection {
    var config: [String: JSONValue] = ["url": .string(url), "table": .string(table), "key": "id"]
    if let pageSize { config["pageSize"] = .number(Double(pageSize)) }
    return ResolvedConnection(provider: "postgres/table", config: .object(config))
}

/// A table `name` (id, name, age) with a CHECK on age and a write log (every insert or update
/// of a row adds one line to `<name>_writes`), so tests can count rows written twice.
func createPeopleTable(_ client: PostgresClient, _ name: String, slowMillis: Int = 0) async throws {
    try await client.exec("""
        CREATE TABLE \(name) (id integer PRIMARY KEY, name text NOT NULL, age integer CHECK (age >= 0));
        """)
    try await client.exec("CREATE TABLE \(name)_writes (id integer NOT NULL)")
    try await client.exec("""
        CREATE FUNCTION \(name)_log() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO \(name)_writes VALUES (NEW.id); RETURN NEW; END $$
        """)
    try await client.exec("CREATE TRIGGER \(name)_log AFTER INSERT OR UPDATE ON \(name) FOR EACH ROW EXECUTE FUNCTION \(name)_log()")
    if slowMillis > 0 {
        try await client.exec("""
            CREATE FUNCTION \(name)_slow() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_sleep(\(Double(slowMillis) / 1000)); RETURN NULL; END $$
            """)
        try await client.exec("CREATE TRIGGER \(name)_slow BEFORE INSERT ON \(name) FOR EACH STATEMENT EXECUTE FUNCTION \(name)_slow()")
    }
}
