import Foundation
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@Suite("nvisy keys rotate, with a host serving", .serialized)
struct KeyRotationEndToEndTests {
    /// How many connections hold each key id.
    static func keyIDs(_ harness: ServeHarness) async throws -> [String: Int] {
        var out: [String: Int] = [:]
        let rows = try await harness.database.client.query("SELECT key_id, count(*)::bigint FROM connections WHERE credentials IS NOT NULL GROUP BY key_id")
        for try await (key, n) in rows.decode((String?, Int64).self) { out[key ?? "-", default: 0] += Int(n) }
        return out
    }

    /// Waits until the file at `path` contains `text`.
    static func waitFor(_ text: String, in path: String, pid: pid_t, timeout: Duration = .seconds(120)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let content = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if content.contains(text) { return content }
            if !ChildProcess.isRunning(pid) { throw NvisyError.internal("the process ended before printing \(text): \(content)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NvisyError.unavailable("\(text) did not appear in \(path)")
    }

    @Test("credentials sealed under key A: rotate to B, killed half-way, re-run; every check passes throughout and after a restart on B alone; no secret leaks")
    func rotate() async throws {
        let harness = try await ServeHarness.make("e2e_rotate")
        let url = try DatabaseURL(harness.databaseURL)
        let password = try #require(url.password)
        try await harness.start()
        let (token, ws) = try await harness.owner()
        let config: [String: Any] = ["url": "postgres://\(url.username)@\(url.host):\(url.port)/\(url.database)", "table": "files", "key": "id"]
        var ids: [String] = []
        for i in 0..<8 {
            ids.append(try await harness.connection(token, ws, ["name": "pg\(i)", "provider": "postgres/table", "config": config,
                                                                "credentials": ["password": password]]))
        }
        for id in ids { #expect(try await harness.check(token, id).ok, "check \(id) under key A") }
        let before = try await Self.keyIDs(harness)
        #expect(before.count == 1 && before.values.first == 8, "\(before)")
        let keyA = try #require(before.keys.first)

        // A rotation that pauses between one-credential batches, killed after three.
        let out = harness.dataDir.deletingLastPathComponent().appendingPathComponent("rotate-1.out").path
        let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let common = await harness.common
        let pid = try ChildProcess.spawn(NvisyBinary.path, arguments: ["keys", "rotate"] + common + ["--batch-size", "1", "--batch-pause-ms", "2000"],
                                         environment: ServeHarness.environment, stdoutFD: fd, purpose: "nvisy keys rotate")
        close(fd)
        var firstOutput = try await Self.waitFor("re-encrypted 3/8", in: out, pid: pid)
        kill(pid, SIGKILL)
        _ = await ChildProcess.wait(pid, timeout: .seconds(30))
        firstOutput = (try? String(contentsOfFile: out, encoding: .utf8)) ?? firstOutput
        #expect(!firstOutput.contains("done:"), "\(firstOutput)")
        let pending = harness.dataDir.appendingPathComponent("master.key.next").path
        #expect(FileManager.default.fileExists(atPath: pending))
        let middle = try await Self.keyIDs(harness)
        #expect(middle.count == 2 && middle[keyA].map { (1...5).contains($0) } == true, "half-way: \(middle)")

        // Half-way, the running host opens both keys; a credential set now is sealed with the new key.
        for id in ids { #expect(try await harness.check(token, id).ok, "check \(id) half-way") }
        ids.append(try await harness.connection(token, ws, ["name": "late", "provider": "postgres/table", "config": config,
                                                            "credentials": ["password": password]]))
        #expect(try await harness.check(token, ids.last!).ok)

        // The second run resumes with the same new key and finishes.
        let second = try await NvisyBinary.run(["keys", "rotate"] + common + ["--batch-size", "2"], timeout: .seconds(120))
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("resuming the rotation"), "\(second.output)")
        #expect(second.output.contains("done: every credential is sealed"), "\(second.output)")
        let after = try await Self.keyIDs(harness)
        #expect(after.count == 1 && after.values.first == 9 && after[keyA] == nil, "after: \(after)")
        #expect(!FileManager.default.fileExists(atPath: pending))
        for id in ids { #expect(try await harness.check(token, id).ok, "check \(id) after the rotation, same host") }

        // A host started afresh knows only the new key (the key file was replaced) and opens everything.
        await harness.stop()
        try await harness.start()
        for id in ids { #expect(try await harness.check(token, id).ok, "check \(id) after a restart") }
        // A third run has nothing to do, then finishes again with a fresh key.
        let third = try await NvisyBinary.run(["keys", "rotate"] + common, timeout: .seconds(120))
        #expect(third.status == 0, "\(third.output)")
        #expect(try await harness.check(token, ids[0]).ok)

        let everything = [harness.answers, harness.logText, firstOutput, second.output, third.output].joined(separator: "\n")
        #expect(harness.logText.contains("debug"), "the server logged at debug level")
        #expect(!everything.contains(password), "the database password appeared in an answer, a log line or the rotation's output")
        await harness.shutdown()
    }
}
