import Foundation
import NvisyCore
import NvisyTestSupport
import Testing

/// NATS dies (SIGKILL) in the middle of a run and comes back on the same port and store: the
/// host's `/health` answers 503 meanwhile and recovers, and the run completes with every row
/// exactly once — nothing acknowledged is lost.
@Suite("End to end: NATS restart", .serialized)
struct NATSRestartEndToEndTests {
    typealias W = WorkerEndToEndTests

    @Test("nats-server killed and restarted mid-run: health 503 then 200, the run completes, each row once")
    func runSurvivesANATSRestart() async throws {
        let databaseURL = try await TestPostgres.freshDatabase("e2e_natsdown")
        let files = 40, rowsPerFile = 100, total = files * rowsPerFile
        let csv = TestPostgres.temporaryDirectory("e2e-natsdown-csv")
        try FileManager.default.createDirectory(at: csv, withIntermediateDirectories: true)
        for f in 0..<files {
            var text = "id,name,age\n"
            for r in 0..<rowsPerFile { text += "\(f * rowsPerFile + r),person,\(r % 90)\n" }
            try Data(text.utf8).write(to: csv.appendingPathComponent(String(format: "part-%03d.csv", f)))
        }
        let natsPort = try FreePort.loopback(), apiPort = try FreePort.loopback()
        let natsStore = TestPostgres.temporaryDirectory("e2e-natsdown-store")
        let natsArguments = ["-js", "-a", "127.0.0.1", "-p", "\(natsPort)", "-sd", natsStore.path]
        var nats = try W.start(W.natsServer, natsArguments, name: "e2e-natsdown-nats")
        let env = ["NVISY_DATABASE_URL": databaseURL, "NVISY_NATS_URL": "nats://127.0.0.1:\(natsPort)",
                   "NVISY_MASTER_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
                   "NVISY_LOG_LEVEL": "info", "NVISY_RUN_BATCH_SIZE": "100"]
        let serve = try W.start(NvisyBinary.path, ["serve", "--port", "\(apiPort)", "--data-dir", TestPostgres.temporaryDirectory("e2e-natsdown-serve").path],
                                environment: env, name: "e2e-natsdown-serve")
        var processes = [nats, serve]
        func cleanUp() async { for p in processes.reversed() { await W.stop(p) } }
        do {
            var healthy = false
            for _ in 0..<360 where !healthy {
                healthy = await NvisyBinary.get(port: apiPort, path: "/health")?.status == 200
                if !healthy { try await Task.sleep(for: .milliseconds(250)) }
            }
            try #require(healthy, "serve did not start: \(serve.output)")
            try await W.psql(databaseURL, """
                CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL, age integer);
                CREATE FUNCTION people_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.1); RETURN NULL; END $$;
                CREATE TRIGGER people_slow BEFORE INSERT ON people FOR EACH STATEMENT EXECUTE FUNCTION people_slow();
                """)
            let (_, signup) = try await W.call(apiPort, "POST", "/api/v1/auth/signup",
                                               json: ["email": "nats@example.com", "password": "correct horse battery", "displayName": "N"])
            let token = try #require(signup["token"] as? String, "\(signup)")
            let (_, workspace) = try await W.call(apiPort, "POST", "/api/v1/workspaces", token: token, json: ["name": "W"])
            let ws = try #require(workspace["id"] as? String)
            let (_, source) = try await W.call(apiPort, "POST", "/api/v1/workspaces/\(ws)/connections", token: token,
                                               json: ["name": "csv", "provider": "filesystem/files", "config": ["root": csv.path, "glob": "*.csv"]])
            var parts = try #require(URLComponents(string: databaseURL))
            let password = parts.password
            parts.password = nil
            var tableBody: [String: Any] = ["name": "people", "provider": "postgres/table",
                                            "config": ["url": try #require(parts.string), "table": "people", "key": "id"]]
            if let password { tableBody["credentials"] = ["password": password] }
            let (_, table) = try await W.call(apiPort, "POST", "/api/v1/workspaces/\(ws)/connections", token: token, json: tableBody)
            let definition: [String: Any] = [
                "nodes": [["id": "in", "kind": "source", "connection": try #require(source["id"] as? String, "\(source)")],
                          ["id": "csv", "kind": "transform", "transform": "formats/csv"],
                          ["id": "out", "kind": "sink", "connection": try #require(table["id"] as? String, "\(table)")]],
                "edges": [["from": "in", "to": "csv"], ["from": "csv", "to": "out"]]]
            let (_, pipeline) = try await W.call(apiPort, "POST", "/api/v1/workspaces/\(ws)/pipelines", token: token,
                                                 json: ["name": "load", "status": "enabled", "definition": definition])
            let (_, queued) = try await W.call(apiPort, "POST", "/api/v1/pipelines/\(try #require(pipeline["id"] as? String, "\(pipeline)"))/runs", token: token)
            let run = try #require(queued["id"] as? String, "\(queued)")

            var written = 0
            let deadline = ContinuousClock.now + .seconds(120)
            while written == 0 || written < total / 4, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                written = try await W.count(databaseURL, "SELECT count(*) FROM people")
            }
            try #require(written > 0 && written < total, "wrote \(written) of \(total) before the outage: \(serve.output.suffix(2000))")

            // NATS goes away: health says so.
            kill(nats.pid, SIGKILL)
            _ = await ChildProcess.wait(nats.pid, timeout: .seconds(10))
            processes.removeAll { $0.pid == nats.pid }
            var down = false
            for _ in 0..<80 where !down {
                down = await NvisyBinary.get(port: apiPort, path: "/health")?.status == 503
                if !down { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(down, "/health never reported the NATS outage")
            try await Task.sleep(for: .seconds(3))

            // Back on the same port and store: health recovers, the run finishes.
            nats = try W.start(W.natsServer, natsArguments, name: "e2e-natsdown-nats2")
            processes.insert(nats, at: 0)
            var up = false
            for _ in 0..<200 where !up {
                up = await NvisyBinary.get(port: apiPort, path: "/health")?.status == 200
                if !up { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(up, "/health did not recover: \(serve.output.suffix(2000))")
            var final: [String: Any] = [:]
            let end = ContinuousClock.now + .seconds(180)
            while ContinuousClock.now < end {
                try await Task.sleep(for: .milliseconds(250))
                final = try await W.call(apiPort, "GET", "/api/v1/runs/\(run)", token: token).1
                if ["completed", "failed", "cancelled"].contains(final["status"] as? String ?? "") { break }
            }
            #expect(final["status"] as? String == "completed", "run: \(final)\nserve: \(serve.output.suffix(3000))")
            #expect(try await W.count(databaseURL, "SELECT count(*) FROM people") == total)
            #expect(final["written"] as? Int ?? 0 >= total, "\(final)")
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }
}
