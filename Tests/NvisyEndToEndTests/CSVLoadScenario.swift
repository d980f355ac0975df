import Foundation
import NvisyCore
import NvisyTestSupport
import Testing

/// The load the fault tests put on real processes: CSV files → formats/csv → a PostgreSQL table
/// whose inserts are slowed by a statement trigger (so a run lasts long enough to break it).
struct CSVLoadScenario {
    let databaseURL: String
    let files: Int
    let rowsPerFile: Int
    let folder: URL
    var total: Int { files * rowsPerFile }

    /// Writes the CSV files: ids 0..<total, each once.
    init(databaseURL: String, files: Int, rowsPerFile: Int, name: String) throws {
        self.databaseURL = databaseURL
        self.files = files
        self.rowsPerFile = rowsPerFile
        folder = TestPostgres.temporaryDirectory(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for f in 0..<files {
            var text = "id,name,age\n"
            for r in 0..<rowsPerFile { text += "\(f * rowsPerFile + r),person,\(r % 90)\n" }
            try Data(text.utf8).write(to: folder.appendingPathComponent(String(format: "part-%03d.csv", f)))
        }
    }

    /// Creates `tables` (id primary key) whose inserts take `delay` seconds per row: a pace that
    /// holds however the sink batches its writes (COPY, merge, gathered writes).
    func createTables(_ tables: [String], delay: Double) async throws {
        var sql = "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(\(delay)); RETURN NEW; END $$;\n"
        for table in tables {
            sql += "CREATE TABLE \(table) (id integer PRIMARY KEY, name text NOT NULL, age integer);\n"
            sql += "CREATE TRIGGER slow BEFORE INSERT ON \(table) FOR EACH ROW EXECUTE FUNCTION slow_insert();\n"
        }
        try await WorkerEndToEndTests.psql(databaseURL, sql)
    }

    /// Signs up through the API on `port`; returns (token, workspace id).
    static func owner(port: Int, email: String) async throws -> (token: String, workspace: String) {
        let (_, signup) = try await WorkerEndToEndTests.call(port, "POST", "/api/v1/auth/signup",
                                                             json: ["email": email, "password": "correct horse battery", "displayName": "Ops"])
        let token = try #require(signup["token"] as? String, "\(signup)")
        let (_, workspace) = try await WorkerEndToEndTests.call(port, "POST", "/api/v1/workspaces", token: token, json: ["name": "W"])
        return (token, try #require(workspace["id"] as? String, "\(workspace)"))
    }

    /// A pipeline from the CSV folder into `table` (the database password in sealed credentials),
    /// created through the API on `port`; returns its id.
    func pipeline(port: Int, token: String, workspace ws: String, table: String) async throws -> String {
        let call = WorkerEndToEndTests.call
        let (_, source) = try await call(port, "POST", "/api/v1/workspaces/\(ws)/connections", token,
                                         ["name": "csv-\(table)", "provider": "filesystem/files", "config": ["root": folder.path, "glob": "*.csv"]])
        var parts = try #require(URLComponents(string: databaseURL))
        let password = parts.password
        parts.password = nil
        var body: [String: Any] = ["name": table, "provider": "postgres/table", "config": ["url": try #require(parts.string), "table": table, "key": "id"]]
        if let password { body["credentials"] = ["password": password] }
        let (_, sink) = try await call(port, "POST", "/api/v1/workspaces/\(ws)/connections", token, body)
        let definition: [String: Any] = [
            "nodes": [["id": "in", "kind": "source", "connection": try #require(source["id"] as? String, "\(source)")],
                      ["id": "csv", "kind": "transform", "transform": "formats/csv"],
                      ["id": "out", "kind": "sink", "connection": try #require(sink["id"] as? String, "\(sink)")]],
            "edges": [["from": "in", "to": "csv"], ["from": "csv", "to": "out"]]]
        let (status, pipeline) = try await call(port, "POST", "/api/v1/workspaces/\(ws)/pipelines", token,
                                                ["name": "load-\(table)", "status": "enabled", "definition": definition])
        #expect(status == 201, "\(pipeline)")
        return try #require(pipeline["id"] as? String, "\(pipeline)")
    }

    /// Queues a run of `pipeline` through the API on `port`; returns its id.
    static func run(port: Int, token: String, pipeline: String) async throws -> String {
        let (status, run) = try await WorkerEndToEndTests.call(port, "POST", "/api/v1/pipelines/\(pipeline)/runs", token: token)
        #expect(status == 202, "\(run)")
        return try #require(run["id"] as? String, "\(run)")
    }

    /// Polls the run through `port` until it is final (or `within` passes); returns its last state.
    static func finish(port: Int, token: String, run: String, within: Duration = .seconds(180)) async throws -> [String: Any] {
        var final: [String: Any] = [:]
        let end = ContinuousClock.now + within
        while ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(250))
            if let state = try? await WorkerEndToEndTests.call(port, "GET", "/api/v1/runs/\(run)", token: token).1, !state.isEmpty { final = state }
            if ["completed", "failed", "cancelled"].contains(final["status"] as? String ?? "") { break }
        }
        return final
    }

    /// Rows in `table` (-1 when the database does not answer).
    func count(_ table: String) async throws -> Int {
        try await WorkerEndToEndTests.count(databaseURL, "SELECT count(*) FROM \(table)")
    }

    /// Polls `GET /health` on `port` until it answers `status`.
    static func health(port: Int, becomes status: Int, within: Duration) async throws -> Bool {
        let end = ContinuousClock.now + within
        while ContinuousClock.now < end {
            if await NvisyBinary.get(port: port, path: "/health")?.status == status { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
