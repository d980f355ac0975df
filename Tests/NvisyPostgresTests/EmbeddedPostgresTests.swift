import Foundation
import NvisyCore
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyPostgres

@Suite("Embedded PostgreSQL")
struct EmbeddedPostgresTests {
    @Test("starts with pgvector, answers queries, and stops with nothing left running")
    func startQueryStop() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-pg-lifecycle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try await EmbeddedPostgres.start(dataDirectory: dir, logger: TestPostgres.logger)
        let db = NvisyDatabase(url: try DatabaseURL(server.connectionURL), logger: TestPostgres.logger)
        try await withRunningClient(db.client) {
            let applied = try await db.migrate()
            #expect(applied.map(\.version) == Migrations.all.map(\.version))
            let rows = try await db.client.query("SELECT ('[1,0]'::vector <=> '[0,1]'::vector)::float8", logger: TestPostgres.logger)
            var distance: Double?
            for try await value in rows.decode(Double.self) { distance = value }
            #expect(distance == 1.0)
        }
        let pid = try postmasterPID(server.dataPath)
        #expect(ChildProcess.isRunning(pid))
        await server.stop()
        #expect(!ChildProcess.isRunning(pid), "postmaster \(pid) still alive after stop()")
        #expect(!FreePort.isListening(server.port))
    }

    @Test("a second start on the same directory is refused while the first runs")
    func secondStartRefused() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-pg-lock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try await EmbeddedPostgres.start(dataDirectory: dir, logger: TestPostgres.logger)
        await #expect(throws: NvisyError.self) {
            _ = try await EmbeddedPostgres.start(dataDirectory: dir, logger: TestPostgres.logger)
        }
        await server.stop()
        // Restarting on the same, now initialised, directory keeps working.
        let again = try await EmbeddedPostgres.start(dataDirectory: dir, logger: TestPostgres.logger)
        #expect(again.dataPath == server.dataPath)
        await again.stop()
    }

    @Test("missing binaries are a clear error naming where it looked")
    func missingBinaries() throws {
        let error = #expect(throws: NvisyError.self) {
            _ = try PostgresBinaries.locate(explicit: URL(fileURLWithPath: "/nonexistent/bin"), venv: nil)
        }
        #expect(error?.message.contains("/nonexistent/bin") == true)
    }

    private func postmasterPID(_ dataPath: String) throws -> Int32 {
        let text = try String(contentsOfFile: dataPath + "/postmaster.pid", encoding: .utf8)
        return Int32(text.split(separator: "\n")[0])!
    }
}

/// Runs `body` while the pool's `run()` is going, then shuts the pool down.
func withRunningClient<T: Sendable>(_ client: PostgresClient, _ body: () async throws -> T) async throws -> T {
    let runner = Task { await client.run() }
    defer { runner.cancel() }
    return try await body()
}
