// nvisy-bench-pipeline: a generated CSV of N rows (default 1,000,000) into a PostgreSQL table,
// once with `psql \copy` (the physical limit) and once through a pipeline
// (filesystem/files → formats/csv → postgres/table, the real dlopen'd plugins); prints rows/s
// of both and their ratio (target ≥ 0.5×); then the rows re-processed after a kill -9 at 50 %
// (KillResume.swift; target ≤ one batch). Usage: nvisy-bench-pipeline [rows] [repo root]
import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime
import PostgresNIO

let args = CommandLine.arguments
var logger = Logger(label: "nvisy.bench.pipeline")
logger.logLevel = .warning
if args.count > 1, args[1] == "--run-child" { exit(await KillResume.child(args, logger: logger)) }
let rows = args.count > 1 ? Int(args[1]) ?? 1_000_000 : 1_000_000
let repo = URL(fileURLWithPath: args.count > 2 ? args[2] : FileManager.default.currentDirectoryPath)

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

let work = URL(fileURLWithPath: "/tmp/nvisy-bench-pipeline-\(getpid())")
try FileManager.default.createDirectory(at: work.appendingPathComponent("csv"), withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o755])
defer { try? FileManager.default.removeItem(at: work) }

// The CSV, in files of 100,000 rows (the filesystem source reads a file at a time).
let csvDir = work.appendingPathComponent("csv")
let perFile = 100_000
var allRows = Data()
for f in 0..<((rows + perFile - 1) / perFile) {
    var text = "id,name,email,age\n"
    for id in (f * perFile)..<min(rows, (f + 1) * perFile) { text += "\(id),person \(id),p\(id)@example.com,\(id % 90)\n" }
    try Data(text.utf8).write(to: csvDir.appendingPathComponent(String(format: "part-%04d.csv", f)))
    allRows.append(Data(text.utf8).dropFirst("id,name,email,age\n".utf8.count))
}
let allFile = work.appendingPathComponent("all.csv")
try allRows.write(to: allFile)
print("generated \(rows) rows (\(allRows.count / 1_000_000) MB)")

// PostgreSQL: the embedded server, a fresh database.
let pg = try await EmbeddedPostgres.start(dataDirectory: work.appendingPathComponent("pg"), logger: logger)
let url = try await pg.createDatabase(named: "bench")
let db = NvisyDatabase(url: try DatabaseURL(url), logger: logger)
let pool = Task { await db.client.run() }
let client = db.client
func exec(_ sql: String) async throws { try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
try await db.migrate()
try await exec("CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL, email text, age integer)")

// Baseline: psql \copy of the same rows into the same table.
let clock = ContinuousClock()
let copyTime = try await clock.measure {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
    p.arguments = [url, "-q", "-v", "ON_ERROR_STOP=1", "-c", "\\copy people FROM '\(allFile.path)' WITH (FORMAT csv)"]
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw NvisyError.internal("psql \\copy failed (\(p.terminationStatus))") }
}
try await exec("TRUNCATE people")

// The pipeline.
let pipeline = try await BenchPipeline.make(repo: repo, work: work, csvDir: csvDir, url: url, table: "people", logger: logger)
let executor = PipelineExecutor(host: pipeline.host, checkpoints: PostgresCheckpointStore(client: client, logger: logger), logger: logger)
let options = BenchPipeline.options
var result: RunResult?
let pipelineTime = await clock.measure {
    result = await executor.run(pipeline.plan, runId: UUID(), options: options)
}
let counted = try await { () async throws -> Int in
    for try await n in try await client.query("SELECT count(*)::int FROM people", logger: logger).decode(Int.self) { return n }
    return 0
}()
guard result?.status == .completed, counted == rows else {
    print("pipeline run \(result?.status.rawValue ?? "?"): \(result?.error?.message ?? "") — \(counted) of \(rows) rows")
    pool.cancel()
    await pg.stop()
    exit(1)
}
let copyRate = Double(rows) / seconds(copyTime), pipeRate = Double(rows) / seconds(pipelineTime)
print(String(format: "psql \\copy:  %.2f s  %.0f rows/s", seconds(copyTime), copyRate))
print(String(format: "pipeline:    %.2f s  %.0f rows/s  (batch %d, max in flight %d)", seconds(pipelineTime), pipeRate, options.batchSize,
             result!.progress.maxInFlight))
print(String(format: "ratio pipeline/copy: %.2fx (target >= 0.5x)", pipeRate / copyRate))

if ProcessInfo.processInfo.environment["NVISY_BENCH_SKIP_KILL"] == nil {
    do {
        let k = try await KillResume.measure(rows: rows, url: url, csvDir: csvDir, work: work, repo: repo, client: client, logger: logger)
        print("kill -9 at \(k.rowsAtKill) of \(rows) rows (checkpoint then: \(k.resumedFrom)); after resuming: \(k.finalRows) rows")
        print("rows re-processed after a kill -9 at 50 %: \(k.reprocessed) (target <= one batch = \(options.batchSize); "
              + "at most one sink write = \(options.sinkBatchSize ?? options.batchSize) rows can be committed ahead of the checkpoint)")
        if k.finalRows != rows { print("ERROR: \(k.finalRows) rows in the table after the resumed run, expected \(rows)") }
    } catch {
        print("kill -9 measurement failed: \(String(reflecting: error))")
    }
}
pool.cancel()
await pg.stop()
