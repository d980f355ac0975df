import Foundation
import NvisyCore
import NvisyTestSupport
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The multi-machine topology on loopback: a 3-node NATS cluster (JetStream, replicas = 3), one
/// PostgreSQL, two `nvisy serve` hosts and one `nvisy worker`. Runs submitted to either host
/// spread over the workers; killing one host and one NATS node (SIGKILL) mid-run loses nothing:
/// every run completes and every target table holds each row exactly once. A file uploaded to
/// one host downloads from the other.
@Suite("End to end: scale-out", .serialized)
struct ScaleOutEndToEndTests {
    typealias W = WorkerEndToEndTests

    @Test("two hosts + a worker on a 3-node NATS cluster: runs spread, a host and a NATS node die mid-run, nothing lost")
    func clusterSurvivesAHostAndANATSNode() async throws {
        let runs = 4
        let load = try CSVLoadScenario(databaseURL: try await TestPostgres.freshDatabase("e2e_scale"), files: 20, rowsPerFile: 100,
                                       name: "e2e-scale-csv")
        let databaseURL = load.databaseURL, total = load.total

        // NATS: three clustered JetStream nodes.
        let clientPorts = try (0..<3).map { _ in try FreePort.loopback() }, routePorts = try (0..<3).map { _ in try FreePort.loopback() }
        let monitorPorts = try (0..<3).map { _ in try FreePort.loopback() }
        let routes = routePorts.map { "nats://127.0.0.1:\($0)" }.joined(separator: ",")
        var processes: [W.Started] = []
        func cleanUp() async { for p in processes.reversed() { await W.stop(p) } }
        for i in 0..<3 {
            processes.append(try W.start(W.natsServer, ["-js", "-a", "127.0.0.1", "-p", "\(clientPorts[i])", "-m", "\(monitorPorts[i])", "-n", "n\(i)",
                                                         "-sd", TestPostgres.temporaryDirectory("e2e-scale-nats\(i)").path,
                                                         "--cluster_name", "nvisy", "--cluster", "nats://127.0.0.1:\(routePorts[i])",
                                                         "--routes", routes], name: "e2e-scale-nats\(i)"))
        }
        let natsNodes = processes
        let natsURL = clientPorts.map { "nats://127.0.0.1:\($0)" }.joined(separator: ",")

        // One master key and one session signing key for every process: a token from one host works on the other.
        let sessionKey = TestPostgres.temporaryDirectory("e2e-scale-jwt").appendingPathExtension("key")
        try Data(Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString().utf8).write(to: sessionKey)
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let shared = ["NVISY_DATABASE_URL": databaseURL, "NVISY_NATS_URL": natsURL, "NVISY_NATS_REPLICAS": "3", "NVISY_MASTER_KEY": key,
                      "NVISY_JWT_KEY_FILE": sessionKey.path, "NVISY_LOG_LEVEL": "info", "NVISY_RUN_LEASE_SECONDS": "3",
                      "NVISY_RUN_BATCH_SIZE": "100", "NVISY_WORKER_CONCURRENCY": "1"]
        let ports = [try FreePort.loopback(), try FreePort.loopback()]
        var hosts: [W.Started] = []
        do {
            // The cluster needs a moment to elect a JetStream meta leader before streams can be made.
            try await Task.sleep(for: .seconds(2))
            for (i, port) in ports.enumerated() {
                let host = try W.start(NvisyBinary.path, ["serve", "--port", "\(port)", "--data-dir", TestPostgres.temporaryDirectory("e2e-scale-host\(i)").path],
                                       environment: shared, name: "e2e-scale-host\(i)")
                hosts.append(host)
                processes.append(host)
                var healthy = false
                for _ in 0..<720 where !healthy {
                    healthy = await NvisyBinary.get(port: port, path: "/health")?.status == 200
                    if !healthy { try await Task.sleep(for: .milliseconds(250)) }
                }
                try #require(healthy, "host \(i) did not start: \(host.output)")
            }
            let worker = try W.start(NvisyBinary.path, ["worker", "--data-dir", TestPostgres.temporaryDirectory("e2e-scale-worker").path],
                                     environment: shared, name: "e2e-scale-worker")
            processes.append(worker)

            // Tables that take a few seconds to fill (a slow statement trigger).
            try await load.createTables((0..<runs).map { "people\($0)" }, delay: 0.002)

            let (_, signup) = try await W.call(ports[0], "POST", "/api/v1/auth/signup",
                                               json: ["email": "scale@example.com", "password": "correct horse battery", "displayName": "Scale"])
            let token = try #require(signup["token"] as? String, "\(signup)")
            let (_, workspace) = try await W.call(ports[1], "POST", "/api/v1/workspaces", token: token, json: ["name": "W"])
            let ws = try #require(workspace["id"] as? String, "a token from host 0 works on host 1: \(workspace)")

            // An upload to host 0 downloads, byte for byte, from host 1.
            let bytes = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            var upload = URLRequest(url: URL(string: "http://127.0.0.1:\(ports[0])/api/v1/workspaces/\(ws)/files?name=blob.bin")!)
            upload.httpMethod = "POST"
            upload.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            upload.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
            let (uploaded, _) = try await URLSession.shared.upload(for: upload, from: bytes)
            let fileID = try #require((try JSONSerialization.jsonObject(with: uploaded) as? [String: Any])?["id"] as? String,
                                      "\(String(decoding: uploaded, as: UTF8.self))")
            var download = URLRequest(url: URL(string: "http://127.0.0.1:\(ports[1])/api/v1/files/\(fileID)/content")!)
            download.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let (downloaded, _) = try await URLSession.shared.data(for: download)
            #expect(downloaded == bytes)

            // One pipeline per table; runs submitted alternately to the two hosts.
            var ids: [String] = []
            for r in 0..<runs {
                let pipeline = try await load.pipeline(port: ports[r % 2], token: token, workspace: ws, table: "people\(r)")
                ids.append(try await CSVLoadScenario.run(port: ports[r % 2], token: token, pipeline: pipeline))
            }

            // Mid-run: some rows are in, not all; then host 0 and NATS node 1 die.
            var written = 0
            // How many processes held these runs, at most, at any one look: a run taken over after
            // the kill gets its new process's id, so the end state alone can hide the spread.
            let workersSQL = "SELECT count(DISTINCT worker_id) FROM runs WHERE worker_id IS NOT NULL"
            var mostWorkers = 0
            let deadline = ContinuousClock.now + .seconds(120)
            while written < total / 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                written = try await W.count(databaseURL, "SELECT count(*) FROM people0") + W.count(databaseURL, "SELECT count(*) FROM people1")
                mostWorkers = max(mostWorkers, try await W.count(databaseURL, workersSQL))
            }
            try #require(written > 0, "nothing was written: \(hosts[0].output)")
            kill(hosts[0].pid, SIGKILL)
            kill(natsNodes[1].pid, SIGKILL)
            _ = await ChildProcess.wait(hosts[0].pid, timeout: .seconds(10))
            _ = await ChildProcess.wait(natsNodes[1].pid, timeout: .seconds(10))
            processes.removeAll { $0.pid == hosts[0].pid || $0.pid == natsNodes[1].pid }

            // Every run completes (watched through the surviving host) with every row once.
            var outcomes: [String: String] = [:]
            let end = ContinuousClock.now + .seconds(240)
            while outcomes.count < runs, ContinuousClock.now < end {
                try await Task.sleep(for: .milliseconds(500))
                for id in ids where outcomes[id] == nil {
                    let (status, run) = try await W.call(ports[1], "GET", "/api/v1/runs/\(id)", token: token)
                    if status == 200, let s = run["status"] as? String, ["completed", "failed", "cancelled"].contains(s) { outcomes[id] = s }
                }
                mostWorkers = max(mostWorkers, try await W.count(databaseURL, workersSQL))
            }
            #expect(outcomes.count == runs && outcomes.values.allSatisfy { $0 == "completed" },
                    "runs: \(outcomes)\nhost 1: \(hosts[1].output.suffix(3000))\nworker: \(worker.output.suffix(3000))")
            for r in 0..<runs {
                #expect(try await W.count(databaseURL, "SELECT count(*) FROM people\(r)") == total, "table people\(r)")
            }
            // Work was spread: more than one process ran these runs.
            mostWorkers = max(mostWorkers, try await W.count(databaseURL, workersSQL))
            #expect(mostWorkers >= 2, "runs ran on \(mostWorkers) worker(s) at most at once\nworker: \(worker.output.suffix(2000))")
            // nvisy made its streams with three replicas (which is why losing a node lost nothing).
            let jsz = await NvisyBinary.get(port: monitorPorts[0], path: "/jsz?accounts=true&streams=true&config=true")?.body ?? ""
            let replicas = jsz.matches(of: /"num_replicas":\s*(\d+)/).map { Int($0.output.1) ?? 0 }
            #expect(replicas.count >= 3 && replicas.allSatisfy { $0 == 3 }, "stream replicas \(replicas): \(jsz.prefix(1500))")
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }
}
