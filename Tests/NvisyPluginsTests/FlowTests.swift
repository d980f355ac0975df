import CLibPQ
import Foundation
import Logging
import NvisyCore
import NvisyPostgres
import Testing
@testable import NvisyPlugins

/// Real data through the registry: files → CSV/JSONL → files or a real Postgres table.
@Suite("Flows through the registry", .serialized)
struct FlowTests {
    static func shippedHost() async -> PluginHost {
        let host = TestPlugins.host(TestPlugins.repoRoot.appendingPathComponent("plugins.d"))
        await host.reload()
        return host
    }

    /// Pipes every batch of `source` through `transform` into `sink`; answers the items written.
    static func run(_ source: any SourceInstance, _ transform: (any TransformInstance)?, _ sink: any SinkInstance,
                    after token: Data? = nil) async throws -> Int {
        var written = 0
        for try await batch in source.read(after: token, batchSize: 64) {
            if let transform {
                for try await out in transform.outputs(of: batch, batchSize: 256) {
                    try await sink.write(out)
                    written += out.count
                }
            } else {
                try await sink.write(batch)
                written += batch.count
            }
        }
        return written
    }

    @Test("filesystem source → jsonl → jsonl-encode → filesystem sink; resume after a token")
    func filesToFiles() async throws {
        let host = await Self.shippedHost()
        let input = try TestPlugins.tempDirectory("in"), output = try TestPlugins.tempDirectory("out")
        try FileManager.default.createDirectory(at: input.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("{\"id\":1}\n{\"id\":2}\n".utf8).write(to: input.appendingPathComponent("a.jsonl"))
        try Data("{\"id\":3}\n".utf8).write(to: input.appendingPathComponent("sub/b.jsonl"))
        try Data("ignored".utf8).write(to: input.appendingPathComponent("c.txt"))

        let source = try await host.makeSource("filesystem/files", config: ["root": .string(input.path), "glob": "*.jsonl"])
        var paths: [String] = []
        for try await item in source.read().items { paths.append(item.path ?? "") }
        #expect(paths == ["a.jsonl", "sub/b.jsonl"])
        var resumed: [String] = []
        for try await item in source.read(after: Data("a.jsonl".utf8)).items { resumed.append(item.path ?? "") }
        #expect(resumed == ["sub/b.jsonl"])

        let decode = try await host.makeTransform("formats/jsonl", config: [:])
        let records = try await decode.transformAll(try await collect(source))
        #expect(try records.map { try $0.metadataValue()["id"] } == [1, 2, 3])
        #expect(records.first?.resumeTokenString == "a.jsonl#1")

        let encode = try await host.makeTransform("formats/jsonl-encode", config: ["path": "out/all-{n}.jsonl"])
        let objects = try await encode.transformAll(records)
        let sink = try await host.makeSink("filesystem/files", config: ["root": .string(output.path)])
        try await sink.write(objects)
        try await sink.write(objects)  // idempotent: same path, same bytes
        let written = try String(contentsOf: output.appendingPathComponent("out/all-1.jsonl"), encoding: .utf8)
        #expect(written == "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("out").path) == ["all-1.jsonl"])
    }

    @Test("a bad CSV row names its file and line")
    func badCSVRow() async throws {
        let host = await Self.shippedHost()
        let csv = try await host.makeTransform("formats/csv", config: [:])
        let object = ProviderItem(metadata: ["path": "people.csv"],
                                  payload: Data("name,age\n\"Ada, L\",36\nBob\n".utf8), resumeToken: Data("people.csv".utf8))
        do {
            _ = try await csv.transformAll([object])
            Issue.record("expected a row error")
        } catch let e as NvisyError {
            #expect(e.message.contains("people.csv line 3: expected 2 fields, found 1"), "\(e.message)")
        }
        let ok = ProviderItem(metadata: ["path": "p.csv"], payload: Data("name,note\n\"Ada, L\",\"said \"\"hi\"\"\nthere\"\n".utf8))
        let rows = try await csv.transformAll([ok])
        #expect(try rows.map { try $0.metadataValue() } == [["name": "Ada, L", "note": "said \"hi\"\nthere"]])
    }

    @Test("files → CSV → a real Postgres table (idempotent upsert), read back with keyset pagination")
    func filesToPostgres() async throws {
        let url = try await FlowPostgres.freshDatabase()
        try FlowPostgres.exec(url, "CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL, age integer)")
        let host = await Self.shippedHost()
        let input = try TestPlugins.tempDirectory("csv")
        var expected = 0
        for f in 0..<3 {
            var text = "id,name,age\n"
            for r in 0..<150 {
                let id = f * 150 + r
                text += "\(id),person \(id),\(20 + id % 50)\n"
                expected += 1
            }
            try Data(text.utf8).write(to: input.appendingPathComponent("people-\(f).csv"))
        }
        let source = try await host.makeSource("filesystem/files", config: ["root": .string(input.path), "glob": "*.csv"])
        let csv = try await host.makeTransform("formats/csv", config: [:])
        let table = try await host.makeSink("postgres/table", config: ["url": .string(url), "table": "people", "key": "id"])
        #expect(try await Self.run(source, csv, table) == expected)
        // Run again: the upsert is idempotent.
        #expect(try await Self.run(source, csv, table) == expected)
        #expect(try FlowPostgres.exec(url, "SELECT count(*), sum(age) FROM people").first == ["450", String((0..<450).map { 20 + $0 % 50 }.reduce(0, +))])

        // Read back through the source side of postgres/table, resuming after key 99.
        let reader = try await host.makeSource("postgres/table", config: ["url": .string(url), "table": "people", "key": "id", "pageSize": 40])
        var ids: [Int] = []
        for try await item in reader.read(after: Data("99".utf8), batchSize: 64).items {
            let record = try item.metadataValue()
            ids.append(Int(record["id"]?.doubleValue ?? -1))
            #expect(item.resumeTokenString == String(ids.last!))
        }
        #expect(ids == Array(100..<450))

        // Postgres errors come back classified.
        let missing = try await host.makeSink("postgres/table", config: ["url": .string(url), "table": "nope", "key": "id"])
        await #expect(throws: NvisyError.self) { try await missing.write([ProviderItem(metadata: ["id": 1])]) }
        let unknownColumn = try await host.makeSink("postgres/table", config: ["url": .string(url), "table": "people", "key": "id"])
        do {
            try await unknownColumn.write([ProviderItem(metadata: ["id": 1, "name": "x", "shoe": 42])])
            Issue.record("expected an unknown-column error")
        } catch let e as NvisyError {
            #expect(e.message.contains("shoe"), "\(e.message)")
        }
        for i in [source, csv, table, reader, missing, unknownColumn] as [any ProviderInstance] { await i.close() }
    }

    func collect(_ source: any SourceInstance) async throws -> [ProviderItem] {
        var out: [ProviderItem] = []
        for try await b in source.read() { out += b }
        return out
    }
}

/// One embedded PostgreSQL for this suite (Host/NvisyPostgres's EmbeddedPostgres), and libpq to look inside.
enum FlowPostgres {
    private static let server = Server()

    static func freshDatabase() async throws -> String {
        let pg = try await server.get()
        return try await pg.createDatabase(named: "plugins_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased())")
    }

    /// Starts the server once, however many suites ask at the same time (an actor alone is
    /// reentrant across the `await`, and two callers would both start one).
    private actor Server {
        var starting: Task<EmbeddedPostgres, any Error>?
        func get() async throws -> EmbeddedPostgres {
            if let starting { return try await starting.value }
            let task = Task { () async throws -> EmbeddedPostgres in
                let dir = URL(fileURLWithPath: "/tmp/nvisy-plugins-pg-\(getpid())")
                try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
                var logger = Logger(label: "nvisy.plugins.tests.pg")
                logger.logLevel = .warning
                let started = try await EmbeddedPostgres.start(dataDirectory: dir, logger: logger)
                Cleanup.register(dataPath: started.dataPath, directory: dir.path)
                return started
            }
            starting = task
            return try await task.value
        }
    }

    /// Runs SQL with libpq; the rows as text.
    @discardableResult
    static func exec(_ url: String, _ sql: String) throws -> [[String]] {
        guard let conn = PQconnectdb(url), PQstatus(conn) == CONNECTION_OK else {
            throw NvisyError.unavailable("cannot connect to \(url)")
        }
        defer { PQfinish(conn) }
        guard let res = PQexec(conn, sql) else { throw NvisyError.unavailable("no result") }
        defer { PQclear(res) }
        let st = PQresultStatus(res)
        guard st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK else {
            throw NvisyError.unavailable(String(cString: PQresultErrorMessage(res)))
        }
        return (0..<PQntuples(res)).map { r in (0..<PQnfields(res)).map { f in String(cString: PQgetvalue(res, r, f)) } }
    }
}

/// Stops the suite's server when the test process exits.
enum Cleanup {
    nonisolated(unsafe) static var target: (String, String)?
    static func register(dataPath: String, directory: String) {
        target = (dataPath, directory)
        atexit {
            guard let (dataPath, directory) = Cleanup.target else { return }
            if let pidText = try? String(contentsOfFile: dataPath + "/postmaster.pid", encoding: .utf8),
               let first = pidText.split(separator: "\n").first, let pid = Int32(first) {
                kill(pid, SIGQUIT)
                for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
