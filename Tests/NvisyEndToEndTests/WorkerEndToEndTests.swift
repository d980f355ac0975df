import Foundation
import NvisyCore
import NvisyTestSupport
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Scale-out and crash recovery with real processes: one `nvisy serve` (API only) and `nvisy
/// worker` processes against one PostgreSQL and one nats-server. A worker killed with SIGKILL in
/// the middle of a run loses it to the next worker, which resumes from the checkpoint: the target
/// table ends with every row exactly once.
@Suite("End to end: workers", .serialized)
struct WorkerEndToEndTests {
    /// A process with its output in a log file (shown when a test fails).
    struct Started {
        let pid: pid_t
        let log: URL
        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    }

    static func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:], name: String) throws -> Started {
        let log = TestPostgres.temporaryDirectory(name).appendingPathExtension("log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let fd = open(log.path, O_WRONLY | O_APPEND)
        defer { close(fd) }
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NVISY_") }
        for (k, v) in environment { env[k] = v }
        return Started(pid: try ChildProcess.spawn(executable, arguments: arguments, environment: env, stdoutFD: fd, purpose: name), log: log)
    }

    static func stop(_ process: Started) async {
        kill(process.pid, SIGTERM)
        if await ChildProcess.wait(process.pid, timeout: .seconds(20)) == nil { kill(process.pid, SIGKILL) }
    }

    /// A JSON call to the API.
    static func call(_ port: Int, _ method: String, _ path: String, token: String? = nil, json: Any? = nil) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, body)
    }

    static var natsServer: String {
        ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "/usr/sbin/nats-server"
    }

    @Test("kill -9 of a worker in the middle of a run: the next worker takes it over and every row lands exactly once")
    func killedWorkerIsTakenOver() async throws {
        let databaseURL = try await TestPostgres.freshDatabase("e2e_worker")
        let files = 60, rowsPerFile = 250, total = files * rowsPerFile
        let csv = TestPostgres.temporaryDirectory("e2e-csv")
        try FileManager.default.createDirectory(at: csv, withIntermediateDirectories: true)
        for f in 0..<files {
            var text = "id,name,age\n"
            for r in 0..<rowsPerFile { text += "\(f * rowsPerFile + r),person,\(r % 90)\n" }
            try Data(text.utf8).write(to: csv.appendingPathComponent(String(format: "part-%03d.csv", f)))
        }
        let natsPort = try FreePort.loopback(), apiPort = try FreePort.loopback()
        let natsStore = TestPostgres.temporaryDirectory("e2e-nats")
        let nats = try Self.start(Self.natsServer, ["-js", "-a", "127.0.0.1", "-p", "\(natsPort)", "-sd", natsStore.path], name: "e2e-nats-server")
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let shared = ["NVISY_DATABASE_URL": databaseURL, "NVISY_NATS_URL": "nats://127.0.0.1:\(natsPort)", "NVISY_MASTER_KEY": key,
                      "NVISY_LOG_LEVEL": "info", "NVISY_RUN_LEASE_SECONDS": "3", "NVISY_RUN_BATCH_SIZE": "100"]
        var serveEnv = shared
        serveEnv["NVISY_WORKER_CONCURRENCY"] = "0"
        let serve = try Self.start(NvisyBinary.path, ["serve", "--port", "\(apiPort)", "--data-dir", TestPostgres.temporaryDirectory("e2e-serve").path],
                                   environment: serveEnv, name: "e2e-serve")
        var processes = [nats, serve]
        func cleanUp() async { for p in processes.reversed() { await Self.stop(p) } }
        do {
            var healthy = false
            for _ in 0..<240 where !healthy {
                healthy = await NvisyBinary.get(port: apiPort, path: "/health")?.status == 200
                if !healthy { try await Task.sleep(for: .milliseconds(250)) }
            }
            try #require(healthy, "serve did not start: \(serve.output)")
            // The table: a slow row trigger (a pace whatever the sink's batching) so that the run lasts
            // long enough to kill its worker half-way, and a log of writes.
            let psqlURL = databaseURL
            let setup = """
                CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL, age integer);
                CREATE TABLE people_writes (id integer NOT NULL);
                CREATE FUNCTION people_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO people_writes VALUES (NEW.id); RETURN NEW; END $$;
                CREATE TRIGGER people_log AFTER INSERT OR UPDATE ON people FOR EACH ROW EXECUTE FUNCTION people_log();
                CREATE FUNCTION people_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.0015); RETURN NEW; END $$;
                CREATE TRIGGER people_slow BEFORE INSERT ON people FOR EACH ROW EXECUTE FUNCTION people_slow();
                """
            try await Self.psql(psqlURL, setup)

            let (_, signup) = try await Self.call(apiPort, "POST", "/api/v1/auth/signup",
                                                  json: ["email": "ops@example.com", "password": "correct horse battery", "displayName": "Ops"])
            let token = try #require(signup["token"] as? String, "\(signup)")
            let (_, workspace) = try await Self.call(apiPort, "POST", "/api/v1/workspaces", token: token, json: ["name": "W"])
            let ws = try #require(workspace["id"] as? String)
            let (_, source) = try await Self.call(apiPort, "POST", "/api/v1/workspaces/\(ws)/connections", token: token,
                                                  json: ["name": "csv", "provider": "filesystem/files", "config": ["root": csv.path, "glob": "*.csv"]])
            // The password goes in the (sealed) credentials, not the config.
            var parts = try #require(URLComponents(string: databaseURL))
            let password = parts.password
            parts.password = nil
            var tableBody: [String: Any] = ["name": "people", "provider": "postgres/table",
                                            "config": ["url": try #require(parts.string), "table": "people", "key": "id"]]
            if let password { tableBody["credentials"] = ["password": password] }
            let (_, table) = try await Self.call(apiPort, "POST", "/api/v1/workspaces/\(ws)/connections", token: token, json: tableBody)
            let definition: [String: Any] = [
                "nodes": [["id": "in", "kind": "source", "connection": try #require(source["id"] as? String, "\(source)")],
                          ["id": "csv", "kind": "transform", "transform": "formats/csv"],
                          ["id": "out", "kind": "sink", "connection": try #require(table["id"] as? String, "\(table)")]],
                "edges": [["from": "in", "to": "csv"], ["from": "csv", "to": "out"]]]
            let (status, pipeline) = try await Self.call(apiPort, "POST", "/api/v1/workspaces/\(ws)/pipelines", token: token,
                                                         json: ["name": "load", "status": "enabled", "definition": definition])
            #expect(status == 201, "\(pipeline)")
            let (_, queued) = try await Self.call(apiPort, "POST", "/api/v1/pipelines/\(try #require(pipeline["id"] as? String))/runs", token: token)
            let run = try #require(queued["id"] as? String, "\(queued)")

            // Worker A runs it; it is killed at about half.
            let workerA = try Self.start(NvisyBinary.path, ["worker", "--data-dir", TestPostgres.temporaryDirectory("e2e-wa").path],
                                         environment: shared, name: "e2e-worker-a")
            processes.append(workerA)
            var written = 0
            let deadline = ContinuousClock.now + .seconds(90)
            while written < total / 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                written = try await Self.count(psqlURL, "SELECT count(*) FROM people")
            }
            try #require(written >= total / 2 && written < total, "worker A wrote \(written) of \(total): \(workerA.output)")
            kill(workerA.pid, SIGKILL)
            _ = await ChildProcess.wait(workerA.pid, timeout: .seconds(10))
            processes.removeLast()

            // Worker B takes it over after the lease and the ack wait, and finishes it.
            let workerB = try Self.start(NvisyBinary.path, ["worker", "--data-dir", TestPostgres.temporaryDirectory("e2e-wb").path],
                                         environment: shared, name: "e2e-worker-b")
            processes.append(workerB)
            var final: [String: Any] = [:]
            let end = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < end {
                try await Task.sleep(for: .milliseconds(250))
                final = try await Self.call(apiPort, "GET", "/api/v1/runs/\(run)", token: token).1
                if ["completed", "failed", "cancelled"].contains(final["status"] as? String ?? "") { break }
            }
            #expect(final["status"] as? String == "completed", "run: \(final)\nworker B: \(workerB.output)")
            #expect(final["attempts"] as? Int == 2)
            #expect(try await Self.count(psqlURL, "SELECT count(*) FROM people") == total)
            let writes = try await Self.count(psqlURL, "SELECT count(*) FROM people_writes")
            // Re-processed rows: at most what was in flight past the checkpoint (a few files' rows).
            // Rows past the checkpoint are written again (upserts: the table still has each once);
            // how many depends on the load (checkpoints every second or 1,000 rows).
            #expect(writes - total <= total / 4, "\(writes - total) rows were written twice")
            #expect(!workerB.output.contains(key), "the master key is never logged")
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    static func psql(_ url: String, _ sql: String) async throws {
        let result = try await ChildProcess.run(try psqlPath(), arguments: [url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], timeout: .seconds(30), purpose: "psql")
        try #require(result.status == 0, "psql: \(result.output)")
    }

    static func count(_ url: String, _ sql: String) async throws -> Int {
        let result = try await ChildProcess.run(try psqlPath(), arguments: [url, "-At", "-c", sql], timeout: .seconds(30), purpose: "psql")
        return Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func psqlPath() throws -> String {
        let candidates = [".venv/lib/python3.11/site-packages/pgserver/pginstall/bin/psql", "/usr/bin/psql"]
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw NvisyError.notFound("psql is not installed")
    }
}
