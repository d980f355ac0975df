import Foundation
import NvisyCore
import NvisyPlugins
import PostgresNIO
import Testing
@testable import NvisyRuntime

/// The executor on real PostgreSQL (embedded) with the real dlopen'd plugins.
@Suite("Pipeline executor", .serialized)
struct ExecutorTests {
    static let fast = RetryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(100))

    @Test("CSV files → formats/csv → filter → postgres/table: exact row counts, counters, checkpoint saved")
    func csvToPostgres() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await createPeopleTable(client, "people")
            let dir = try writeCSVs(files: 5, rows: 200)
            let plan = try await compile(csvPipeline(filter: [">=": [["var": "/age"], 18]]),
                                         ["files": filesConnection(dir), "table": tableConnection(url, "people")])
            let runId = UUID()
            let run = executor.start(plan, runId: runId, options: RunOptions(batchSize: 64, progressInterval: .milliseconds(50)))
            var snapshots = 0
            for await _ in run.progress() { snapshots += 1 }
            let result = await run.wait()
            #expect(result.status == .completed, "\(String(describing: result.error))")
            let expected = (0..<1000).filter { $0 % 90 >= 18 }.count
            #expect(try await client.int("SELECT count(*)::int FROM people") == expected)
            #expect(try await client.int("SELECT count(*)::int FROM people WHERE age < 18") == 0)
            let nodes = Dictionary(uniqueKeysWithValues: result.progress.nodes.map { ($0.nodeId, $0) })
            #expect(nodes["in"]?.read == 5)
            #expect(nodes["csv"]?.written == 1000)
            #expect(nodes["keep"]?.read == 1000)
            #expect(nodes["out"]?.written == expected)
            #expect(result.progress.written == expected)
            #expect(snapshots >= 2)
            #expect(result.progress.checkpoints.first?.resumeTokenText == "people-004.csv")
            let saved = try await executor.checkpoints.checkpoints(run: runId)
            #expect(saved["in"].map { String(decoding: $0, as: UTF8.self) } == "people-004.csv")
        }
    }

    @Test("switch: CSV and JSON Lines to two tables by extension, the rest to a directory")
    func switchRouting() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await createPeopleTable(client, "from_csv")
            try await createPeopleTable(client, "from_jsonl")
            let dir = try writeCSVs(files: 2, rows: 30)
            var jsonl = ""
            for i in 1000..<1025 { jsonl += "{\"id\": \(i), \"name\": \"j\(i)\", \"age\": 40}\n" }
            try Data(jsonl.utf8).write(to: dir.appendingPathComponent("more.JSONL"))
            try Data("not data".utf8).write(to: dir.appendingPathComponent("readme.txt"))
            let out = try RuntimeTestSupport.tempDirectory("rest")
            let d = PipelineDefinition(
                nodes: [.source("in", connection: "files"),
                        .switch("route", cases: [.init(port: "csv", when: ["extension": "csv"]),
                                                 .init(port: "jsonl", when: ["extension": ["jsonl", "ndjson"]])]),
                        .transform("csv", "formats/csv"), .transform("jsonl", "formats/jsonl"),
                        .sink("a", connection: "a"), .sink("b", connection: "b"), .sink("rest", connection: "rest")],
                edges: [.init(from: "in", to: "route"), .init(from: "route", to: "csv", port: "csv"),
                        .init(from: "route", to: "jsonl", port: "jsonl"), .init(from: "route", to: "rest", port: "default"),
                        .init(from: "csv", to: "a"), .init(from: "jsonl", to: "b")])
            let plan = try await compile(d, ["files": filesConnection(dir, glob: "*"), "a": tableConnection(url, "from_csv"),
                                             "b": tableConnection(url, "from_jsonl"),
                                             "rest": ResolvedConnection(provider: "filesystem/files", config: ["root": .string(out.path)])])
            let result = await executor.run(plan, runId: UUID())
            #expect(result.status == .completed, "\(String(describing: result.error))")
            #expect(try await client.int("SELECT count(*)::int FROM from_csv") == 60)
            #expect(try await client.int("SELECT count(*)::int FROM from_jsonl") == 25)
            #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == ["readme.txt"])
            #expect(result.progress.checkpoints.first?.items == 4)
        }
    }

    /// A table of `n` people to read from (the postgres/table source: one resume token per row).
    static func sourceTable(_ client: PostgresClient, _ n: Int) async throws {
        try await client.exec("CREATE TABLE src (id integer PRIMARY KEY, name text NOT NULL, age integer)")
        try await client.exec("INSERT INTO src SELECT i, 'p' || i, i % 90 FROM generate_series(0, \(n - 1)) AS i")
    }

    static let copyTable = PipelineDefinition(nodes: [.source("in", connection: "src"), .sink("out", connection: "dst")],
                                              edges: [.init(from: "in", to: "out")])

    @Test("backpressure: a slow sink throttles the source; items in flight stay within a few batches")
    func backpressure() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await Self.sourceTable(client, 6000)
            try await createPeopleTable(client, "dst", slowMillis: 5)
            let plan = try await compile(Self.copyTable, ["src": tableConnection(url, "src", pageSize: 100), "dst": tableConnection(url, "dst")])
            let batch = 100
            let run = executor.start(plan, runId: UUID(), options: RunOptions(batchSize: batch, progressInterval: .milliseconds(20)))
            var worstLead = 0
            for await p in run.progress() {
                let read = p.nodes.first { $0.nodeId == "in" }?.read ?? 0
                worstLead = max(worstLead, read - p.written)
            }
            let result = await run.wait()
            #expect(result.status == .completed)
            #expect(try await client.int("SELECT count(*)::int FROM dst") == 6000)
            #expect(result.progress.maxInFlight <= 3 * batch, "max in flight \(result.progress.maxInFlight)")
            #expect(worstLead <= 4 * batch, "the source ran \(worstLead) items ahead of the sink")
        }
    }

    @Test("cancel stops promptly with a consistent checkpoint; resuming writes every row, few twice")
    func cancelAndResume() async throws {
        try await withRuntimeDatabase { url, client, executor in
            let n = 5000, batch = 100
            try await Self.sourceTable(client, n)
            try await createPeopleTable(client, "dst", slowMillis: 20)
            let plan = try await compile(Self.copyTable, ["src": tableConnection(url, "src", pageSize: 100), "dst": tableConnection(url, "dst")])
            let runId = UUID()
            let options = RunOptions(batchSize: batch, checkpointEveryItems: 200, progressInterval: .milliseconds(20))
            let run = executor.start(plan, runId: runId, options: options)
            for await p in run.progress() where p.written >= 1000 { break }
            let clock = ContinuousClock()
            let stopped = await clock.measure {
                run.cancel()
                _ = await run.wait()
            }
            let result = await run.wait()
            #expect(result.status == .cancelled)
            #expect(stopped < .seconds(2), "cancel took \(stopped)")
            let saved = try await executor.checkpoints.checkpoints(run: runId)
            let token = try #require(saved["in"].flatMap { Int(String(decoding: $0, as: UTF8.self)) })
            let written = try await client.int("SELECT count(*)::int FROM dst")
            #expect(token >= 999 && token < n - 1, "checkpoint \(token)")
            // Consistent: every row up to the checkpoint is in the table.
            #expect(try await client.int("SELECT count(*)::int FROM dst WHERE id <= \(token)") == token + 1)
            #expect(written >= token + 1)

            let resumed = await executor.run(plan, runId: runId, options: options)
            #expect(resumed.status == .completed, "\(String(describing: resumed.error))")
            #expect(try await client.int("SELECT count(*)::int FROM dst") == n)
            #expect(try await client.int("SELECT count(DISTINCT id)::int FROM dst_writes") == n)
            let twice = try await client.int("SELECT count(*)::int FROM dst_writes") - n
            #expect(twice <= 2 * batch, "\(twice) rows were written twice")
            #expect(resumed.progress.nodes.first { $0.nodeId == "in" }?.read == n - token - 1)
        }
    }

    @Test("an interrupted CSV run resumes from its checkpoint: every row exactly once in the table")
    func resumeCSV() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await createPeopleTable(client, "people", slowMillis: 15)
            let dir = try writeCSVs(files: 12, rows: 100)
            let plan = try await compile(csvPipeline(), ["files": filesConnection(dir), "table": tableConnection(url, "people")])
            let runId = UUID()
            let options = RunOptions(batchSize: 50, checkpointEveryItems: 1, progressInterval: .milliseconds(20))
            let run = executor.start(plan, runId: runId, options: options)
            for await p in run.progress() where p.written >= 500 { break }
            run.cancel()
            #expect(await run.wait().status == .cancelled)
            let token = try await executor.checkpoints.checkpoints(run: runId)["in"].map { String(decoding: $0, as: UTF8.self) }
            let saved = try #require(token)
            #expect(saved >= "people-003.csv", "\(saved)")
            let resumed = await executor.run(plan, runId: runId, options: options)
            #expect(resumed.status == .completed)
            #expect(try await client.int("SELECT count(*)::int FROM people") == 1200)
            #expect(try await client.int("SELECT count(DISTINCT id)::int FROM people_writes") == 1200)
            // Only files after the checkpoint were read again.
            let reread = resumed.progress.nodes.first { $0.nodeId == "in" }?.read ?? 0
            #expect(reread < 12 && reread == 12 - (Int(saved.dropFirst(7).prefix(3)) ?? 0) - 1, "re-read \(reread) after \(saved)")
        }
    }

    @Test("transient sink errors are retried with backoff")
    func transientRetried() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await createPeopleTable(client, "people")
            // A real transient failure: the first 3 statements fail with serialization_failure (40001).
            try await client.exec("CREATE SEQUENCE faults")
            try await client.exec("""
                CREATE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF nextval('faults') <= 3 THEN RAISE EXCEPTION 'try again' USING ERRCODE = '40001'; END IF; RETURN NULL; END $$
                """)
            try await client.exec("CREATE TRIGGER flaky BEFORE INSERT ON people FOR EACH STATEMENT EXECUTE FUNCTION flaky()")
            let dir = try writeCSVs(files: 2, rows: 100)
            let plan = try await compile(csvPipeline(), ["files": filesConnection(dir), "table": tableConnection(url, "people")])
            let result = await executor.run(plan, runId: UUID(), options: RunOptions(batchSize: 50, retry: Self.fast))
            #expect(result.status == .completed, "\(String(describing: result.error))")
            #expect(try await client.int("SELECT count(*)::int FROM people") == 200)
            #expect(try await client.int("SELECT last_value::int FROM faults") > 3)
            #expect(result.progress.failed == 0)

            // Always failing: the run fails with a transient error (worth running again later).
            try await client.exec("ALTER SEQUENCE faults RESTART WITH 1")
            try await client.exec("CREATE OR REPLACE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'down' USING ERRCODE = '40001'; END $$")
            let failed = await executor.run(plan, runId: UUID(), options: RunOptions(batchSize: 50, retry: Self.fast))
            #expect(failed.status == .failed)
            #expect(failed.error?.retry == .transient)
        }
    }

    @Test("permanent item errors are recorded and the run goes on, within its error budget")
    func errorBudget() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await createPeopleTable(client, "people")
            let dir = try writeCSVs(files: 4, rows: 250, badEvery: 100)  // 10 rows with age -1 (CHECK fails)
            let plan = try await compile(csvPipeline(), ["files": filesConnection(dir), "table": tableConnection(url, "people")])
            let runId = UUID()
            let result = await executor.run(plan, runId: runId, options: RunOptions(batchSize: 100, retry: Self.fast, errorBudget: 10))
            #expect(result.status == .completed, "\(String(describing: result.error))")
            #expect(try await client.int("SELECT count(*)::int FROM people") == 990)
            #expect(result.progress.failed == 10)
            let page = try await executor.checkpoints.errors(run: runId, limit: 8, after: nil)
            #expect(page.items.count == 8)
            #expect(page.items.first?.itemToken == "people-000.csv#101", "\(page.items.first?.itemToken ?? "")")
            #expect(page.items.first?.message.contains("23514") == true, "\(page.items.first?.message ?? "")")
            let rest = try await executor.checkpoints.errors(run: runId, limit: 8, after: page.next)
            #expect(rest.items.count == 2 && rest.next == nil)

            try await client.exec("TRUNCATE people")
            let over = await executor.run(plan, runId: UUID(), options: RunOptions(batchSize: 100, retry: Self.fast, errorBudget: 5))
            #expect(over.status == .failed)
            #expect(over.error?.message.contains("error budget of 5") == true, "\(String(describing: over.error))")
        }
    }
}
