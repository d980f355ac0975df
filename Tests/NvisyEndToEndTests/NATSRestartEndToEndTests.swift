import Foundation
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import Testing

/// NATS or PostgreSQL goes away in the middle of a run and comes back: the host's `/health`
/// answers 503 meanwhile and recovers, and the run completes with every row exactly once —
/// nothing acknowledged is lost.
@Suite("End to end: NATS and PostgreSQL restarts", .serialized)
struct NATSRestartEndToEndTests {
    typealias W = WorkerEndToEndTests

    /// `nvisy serve` against the given database and a nats-server on `natsPort`, healthy.
    static func serve(databaseURL: String, natsPort: Int, name: String) async throws -> (W.Started, Int) {
        let port = try FreePort.loopback()
        let env = ["NVISY_DATABASE_URL": databaseURL, "NVISY_NATS_URL": "nats://127.0.0.1:\(natsPort)",
                   "NVISY_MASTER_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
                   "NVISY_LOG_LEVEL": "info", "NVISY_RUN_BATCH_SIZE": "100"]
        let serve = try W.start(NvisyBinary.path, ["serve", "--port", "\(port)", "--data-dir", TestPostgres.temporaryDirectory(name).path],
                                environment: env, name: name)
        let healthy = try await CSVLoadScenario.health(port: port, becomes: 200, within: .seconds(90))
        if !healthy { await W.stop(serve) }
        try #require(healthy, "serve did not start: \(serve.output)")
        return (serve, port)
    }

    /// Waits until some but not all rows are in.
    static func midRun(_ load: CSVLoadScenario, table: String) async throws {
        var written = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while written < load.total / 4, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            written = try await load.count(table)
        }
        try #require(written > 0 && written < load.total, "wrote \(written) of \(load.total) before the outage")
    }

    @Test("nats-server killed and restarted mid-run: health 503 then 200, the run completes, each row once")
    func runSurvivesANATSRestart() async throws {
        let load = try CSVLoadScenario(databaseURL: try await TestPostgres.freshDatabase("e2e_natsdown"), files: 40, rowsPerFile: 100,
                                       name: "e2e-natsdown-csv")
        let natsPort = try FreePort.loopback()
        let natsArguments = ["-js", "-a", "127.0.0.1", "-p", "\(natsPort)", "-sd", TestPostgres.temporaryDirectory("e2e-natsdown-store").path]
        var nats = try W.start(W.natsServer, natsArguments, name: "e2e-natsdown-nats")
        var processes = [nats]
        func cleanUp() async { for p in processes.reversed() { await W.stop(p) } }
        do {
            let (serve, port) = try await Self.serve(databaseURL: load.databaseURL, natsPort: natsPort, name: "e2e-natsdown-serve")
            processes.append(serve)
            try await load.createTables(["people"], delay: 0.01)
            let (token, ws) = try await CSVLoadScenario.owner(port: port, email: "nats@example.com")
            let run = try await CSVLoadScenario.run(port: port, token: token,
                                                    pipeline: try await load.pipeline(port: port, token: token, workspace: ws, table: "people"))
            try await Self.midRun(load, table: "people")

            kill(nats.pid, SIGKILL)
            _ = await ChildProcess.wait(nats.pid, timeout: .seconds(10))
            processes.removeAll { $0.pid == nats.pid }
            #expect(try await CSVLoadScenario.health(port: port, becomes: 503, within: .seconds(8)), "/health never reported the NATS outage")
            try await Task.sleep(for: .seconds(3))

            // Back on the same port and store.
            nats = try W.start(W.natsServer, natsArguments, name: "e2e-natsdown-nats2")
            processes.insert(nats, at: 0)
            #expect(try await CSVLoadScenario.health(port: port, becomes: 200, within: .seconds(20)), "/health did not recover: \(serve.output.suffix(2000))")
            let final = try await CSVLoadScenario.finish(port: port, token: token, run: run)
            #expect(final["status"] as? String == "completed", "run: \(final)\nserve: \(serve.output.suffix(3000))")
            #expect(try await load.count("people") == load.total)
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    @Test("PostgreSQL stopped for 10 s mid-run: health 503 then 200, the run completes, each row once")
    func runSurvivesAPostgresOutage() async throws {
        // A server of its own: the shared test server must stay up for the other suites.
        let postgres = try await EmbeddedPostgres.start(dataDirectory: TestPostgres.temporaryDirectory("e2e-pgdown-cluster"),
                                                        logger: TestPostgres.logger)
        let load = try CSVLoadScenario(databaseURL: try await postgres.createDatabase(named: "pgdown"), files: 40, rowsPerFile: 100,
                                       name: "e2e-pgdown-csv")
        let natsPort = try FreePort.loopback()
        var processes = [try W.start(W.natsServer, ["-js", "-a", "127.0.0.1", "-p", "\(natsPort)", "-sd", TestPostgres.temporaryDirectory("e2e-pgdown-nats").path],
                                     name: "e2e-pgdown-nats")]
        func cleanUp() async {
            for p in processes.reversed() { await W.stop(p) }
            await postgres.stop()
        }
        do {
            let (serve, port) = try await Self.serve(databaseURL: load.databaseURL, natsPort: natsPort, name: "e2e-pgdown-serve")
            processes.append(serve)
            try await load.createTables(["people"], delay: 0.01)
            let (token, ws) = try await CSVLoadScenario.owner(port: port, email: "pg@example.com")
            let run = try await CSVLoadScenario.run(port: port, token: token,
                                                    pipeline: try await load.pipeline(port: port, token: token, workspace: ws, table: "people"))
            try await Self.midRun(load, table: "people")

            await postgres.stop()
            #expect(try await CSVLoadScenario.health(port: port, becomes: 503, within: .seconds(8)), "/health never reported the database outage")
            try await Task.sleep(for: .seconds(10))
            try await postgres.restart()
            #expect(try await CSVLoadScenario.health(port: port, becomes: 200, within: .seconds(30)), "/health did not recover: \(serve.output.suffix(2000))")
            let final = try await CSVLoadScenario.finish(port: port, token: token, run: run)
            #expect(final["status"] as? String == "completed", "run: \(final)\nserve: \(serve.output.suffix(4000))")
            #expect(try await load.count("people") == load.total)
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }
}
