import Foundation
import Logging
import NvisyCore
import NvisyPostgres
import NvisyRuntime
import PostgresNIO

/// "Rows re-processed after a kill -9 at 50 %": the pipeline runs in a child process (this
/// executable with `--run-child`) into a table whose AFTER INSERT OR UPDATE trigger logs every
/// id written; the child is SIGKILLed once half the rows are in the table, started again with
/// the same run id (so it resumes from the run's checkpoint in Postgres), and the ids logged
/// more than once are the rows re-processed. The trigger slows writes, so this is separate
/// from the timed run.
enum KillResume {
    struct Outcome {
        var rowsAtKill: Int
        var reprocessed: Int
        var finalRows: Int
        var resumedFrom: String
    }

    static func measure(rows: Int, url: String, csvDir: URL, work: URL, repo: URL, client: PostgresClient, logger: Logger) async throws -> Outcome {
        func exec(_ sql: String) async throws { try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
        func count(_ sql: String) async throws -> Int {
            for try await n in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return n }
            return 0
        }
        try await exec("CREATE TABLE people_k (id integer PRIMARY KEY, name text NOT NULL, email text, age integer)")
        try await exec("CREATE TABLE people_k_writes (id integer NOT NULL)")
        try await exec("""
            CREATE FUNCTION people_k_log() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO people_k_writes VALUES (NEW.id); RETURN NEW; END $$
            """)
        try await exec("CREATE TRIGGER people_k_log AFTER INSERT OR UPDATE ON people_k FOR EACH ROW EXECUTE FUNCTION people_k_log()")
        let runId = UUID()
        let child = try spawn(runId: runId, url: url, csvDir: csvDir, work: work, repo: repo)
        var atKill = 0
        while true {
            try await Task.sleep(for: .milliseconds(10))
            atKill = try await count("SELECT count(*)::int FROM people_k")
            if atKill >= rows / 2 {
                kill(child.processIdentifier, SIGKILL)
                break
            }
            guard child.isRunning else { throw NvisyError.internal("the child run ended before half the rows were written") }
        }
        child.waitUntilExit()
        atKill = try await count("SELECT count(*)::int FROM people_k")
        let resumedFrom = try await {
            for try await t in try await client.query("SELECT encode(resume_token, 'escape') FROM run_checkpoints WHERE run_id = \(runId)",
                                                      logger: logger).decode(String.self) { return t }
            return "(no checkpoint)"
        }()
        let again = try spawn(runId: runId, url: url, csvDir: csvDir, work: work, repo: repo)
        again.waitUntilExit()
        guard again.terminationStatus == 0 else { throw NvisyError.internal("the resumed child run failed (\(again.terminationStatus))") }
        return Outcome(rowsAtKill: atKill,
                       reprocessed: try await count("SELECT (count(*) - count(DISTINCT id))::int FROM people_k_writes"),
                       finalRows: try await count("SELECT count(*)::int FROM people_k"), resumedFrom: resumedFrom)
    }

    private static func spawn(runId: UUID, url: String, csvDir: URL, work: URL, repo: URL) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: p.executableURL!.path) {
            p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        }
        p.arguments = ["--run-child", runId.uuidString, url, csvDir.path, work.path, repo.path]
        try p.run()
        return p
    }

    /// The child: runs the pipeline into `people_k` under `runId`; exit status 0 when it completed.
    static func child(_ args: [String], logger: Logger) async -> Int32 {
        guard args.count >= 7, let runId = UUID(uuidString: args[2]) else { return 2 }
        let url = args[3], csvDir = URL(fileURLWithPath: args[4]), work = URL(fileURLWithPath: args[5]), repo = URL(fileURLWithPath: args[6])
        do {
            let db = NvisyDatabase(url: try DatabaseURL(url), logger: logger)
            let pool = Task { await db.client.run() }
            defer { pool.cancel() }
            let pipeline = try await BenchPipeline.make(repo: repo, work: work, csvDir: csvDir, url: url, table: "people_k", logger: logger)
            let executor = PipelineExecutor(host: pipeline.host, checkpoints: PostgresCheckpointStore(client: db.client, logger: logger), logger: logger)
            let result = await executor.run(pipeline.plan, runId: runId, options: BenchPipeline.options)
            guard result.status == .completed else {
                FileHandle.standardError.write(Data("child run \(result.status.rawValue): \(result.error?.message ?? "")\n".utf8))
                return 1
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("child: \(error)\n".utf8))
            return 1
        }
    }
}
