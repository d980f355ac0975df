import Foundation
import NvisyCore
import NvisyTestSupport
import Testing

@Suite("nvisy binary", .serialized)
struct ServeEndToEndTests {
    @Test("--version prints the version")
    func version() async throws {
        let result = try await NvisyBinary.run(["--version"])
        #expect(result.status == 0)
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }

    @Test("bad input is one clear line on stderr and a non-zero exit, never a trace", arguments: [
        (["serve", "--port", "eighty"], "--port must be an integer"),
        (["serve", "--log-level", "loud"], "--log-level must be one of"),
        (["serve", "--config", "/nonexistent/nvisy.toml"], "config file /nonexistent/nvisy.toml does not exist"),
        (["serve", "--master-key-file", "/nonexistent/master.key"], "cannot read master key file /nonexistent/master.key"),
        (["serve", "--postgres-bin-dir", "/nonexistent/bin"], "/nonexistent/bin has no initdb"),
        (["serve", "--database-url", "mysql://x@y/z"], "database URL must look like postgres://"),
    ])
    func badInput(arguments: [String], message: String) async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await NvisyBinary.run(arguments + ["--data-dir", dir.path], timeout: .seconds(30))
        #expect(result.status != 0)
        #expect(result.output.contains(message), "output was: \(result.output)")
        #expect(!result.output.contains("Fatal error") && !result.output.contains("Stack dump"))
    }

    @Test("a database URL that does not answer fails within a bounded wait, without echoing the password")
    func unreachableDatabase() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-nodb")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try FreePort.loopback()
        let start = ContinuousClock.now
        let result = try await NvisyBinary.run([
            "serve", "--data-dir", dir.path, "--port", "\(try FreePort.loopback())",
            "--database-url", "postgres://nvisy:hunter2pw@127.0.0.1:\(port)/nvisy",
        ], timeout: .seconds(60))
        #expect(result.status != 0)
        #expect(result.output.contains("did not answer"), "output was: \(result.output)")
        #expect(!result.output.contains("hunter2pw"))
        #expect(ContinuousClock.now - start < .seconds(45))
    }

    @Test("serve brings up the embedded default, refuses a second host on its data dir, and stops cleanly on SIGINT")
    func serveLifecycle() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-serve")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try FreePort.loopback()
        let pid = try ChildProcess.spawn(NvisyBinary.path, arguments: ["serve", "--data-dir", dir.path, "--port", "\(port)", "--log-level", "warning"],
                                         environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NVISY_") },
                                         purpose: "nvisy serve")
        var health: (status: Int, body: String)?
        for _ in 0..<240 {
            health = await NvisyBinary.get(port: port, path: "/health")
            if health != nil { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(health?.status == 200)
        #expect(health?.body.contains(#""postgres":"ok""#) == true)
        let keyMode = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("master.key").path)[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        let second = try await NvisyBinary.run(["serve", "--data-dir", dir.path, "--port", "\(try FreePort.loopback())"], timeout: .seconds(30))
        #expect(second.status != 0)
        #expect(second.output.contains("another nvisy is already running"), "output was: \(second.output)")

        let busy = try await NvisyBinary.run(["serve", "--data-dir", TestPostgres.temporaryDirectory("nvisy-busy").path, "--port", "\(port)"], timeout: .seconds(30))
        #expect(busy.status != 0)
        #expect(busy.output.contains("already in use"), "output was: \(busy.output)")

        let postmaster = try String(contentsOfFile: dir.appendingPathComponent("postgres/data/postmaster.pid").path, encoding: .utf8)
        let postgresPID = Int32(postmaster.split(separator: "\n")[0])!
        kill(pid, SIGINT)
        let status = await ChildProcess.wait(pid, timeout: .seconds(60))
        #expect(status == 0)
        #expect(!ChildProcess.isRunning(postgresPID), "postgres \(postgresPID) outlived nvisy")
        #expect(!FreePort.isListening(port))

        // The data survives: migrate status on the stopped data dir shows the applied migration.
        let migrate = try await NvisyBinary.run(["migrate", "status", "--data-dir", dir.path, "--log-level", "error"])
        #expect(migrate.status == 0)
        #expect(migrate.output.contains("0001_extensions\tapplied"), "output was: \(migrate.output)")
    }

    @Test("keys generate writes a 0600 key file and never replaces one")
    func keysGenerate() async throws {
        let dir = TestPostgres.temporaryDirectory("nvisy-keys")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("k/master.key").path
        let first = try await NvisyBinary.run(["keys", "generate", "--output", path])
        #expect(first.status == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(try MasterKey.load(from: path).bytes.count == 32)
        let second = try await NvisyBinary.run(["keys", "generate", "--output", path])
        #expect(second.status != 0)
    }
}
