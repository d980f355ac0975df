import Foundation
import Logging
import NvisyCore
@testable import NvisyNATS

/// Starts a fresh nats-server in a temporary store, connects, runs `body`, cleans up.
@discardableResult
func withNATS<T>(
    _ body: (NATSConnection, EmbeddedNATSServer) async throws -> T
) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-nats-test-\(UUID().uuidString)")
    let server = EmbeddedNATSServer(storeDirectory: dir, logger: quietLogger)
    try await server.start()
    do {
        let conn = try await NATSConnection.connect(url: await server.url, timeout: .seconds(5), logger: quietLogger)
        do {
            let result = try await body(conn, server)
            await conn.close()
            await server.stop()
            try? FileManager.default.removeItem(at: dir)
            return result
        } catch {
            await conn.close()
            throw error
        }
    } catch {
        await server.stop()
        try? FileManager.default.removeItem(at: dir)
        throw error
    }
}

let quietLogger: Logger = {
    var l = Logger(label: "nvisy.nats.test")
    l.logLevel = .warning
    return l
}()

/// The repository root (for python/ and .venv/).
let repoRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs the project venv's Python on a script under python/tests and returns its stdout.
func runPython(_ script: String, _ arguments: [String]) throws -> String {
    let p = Process()
    p.executableURL = repoRoot.appendingPathComponent(".venv/bin/python")
    p.arguments = [repoRoot.appendingPathComponent("python/tests/\(script)").path] + arguments
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw NvisyError.internal("python \(script) failed (\(p.terminationStatus)): \(String(decoding: e, as: UTF8.self))")
    }
    return String(decoding: o, as: UTF8.self)
}

func poll(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
