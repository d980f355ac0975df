import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NvisyCore

/// A `nats-server -js` child process on a loopback port, with its JetStream
/// store under a directory the host owns (e.g. `<dataDir>/nats`).
///
/// ```swift
/// let nats = EmbeddedNATSServer(storeDirectory: dataDir.appendingPathComponent("nats"))
/// try await nats.start()                 // waits until it accepts connections
/// let conn = try await NATSConnection.connect(url: await nats.url)
/// ...
/// await nats.stop()                      // SIGTERM, then SIGKILL after a grace period
/// ```
///
/// The store directory is locked (`flock` on `nvisy-nats.lock`) while the server
/// runs, so a second server on the same store — in this process or another —
/// fails at once with a `conflict` error instead of corrupting it (nats-server 2.9
/// does not lock its store itself). A server left running by a host that died is
/// stopped first. A restart (``stop()`` then ``start()``) keeps the same port.
/// The child runs in its own process group: a terminal's Ctrl-C reaches the host,
/// which stops the server in order.
public actor EmbeddedNATSServer {
    public nonisolated let storeDirectory: URL
    public private(set) var port: Int?
    private let executable: String?
    private let readyTimeout: Duration
    private let logger: Logger
    /// The running child's pid; nil when stopped.
    private var pid: pid_t?
    /// Set by the task that reaps the child, once it has exited.
    private var exitStatus: Int32?
    /// The last child started: only its exit counts (an earlier attempt's may be reaped late).
    private var lastSpawned: pid_t?
    private var lock: DirectoryLock?

    /// - Parameters:
    ///   - storeDirectory: JetStream's store (created if missing) and the server's log file.
    ///   - port: the client port; `nil` picks a free loopback port at the first start.
    ///   - executable: path of `nats-server`; `nil` searches `PATH`, `/usr/sbin`, `/usr/bin`.
    ///   - readyTimeout: how long ``start()`` waits for the server to accept connections.
    public init(storeDirectory: URL, port: Int? = nil, executable: String? = nil,
                readyTimeout: Duration = .seconds(15), logger: Logger = Logger(label: "nvisy.nats.server")) {
        self.storeDirectory = storeDirectory
        self.port = port
        self.executable = executable
        self.readyTimeout = readyTimeout
        self.logger = logger
    }

    /// `nats://127.0.0.1:<port>` (valid once ``start()`` has chosen the port).
    public var url: String { "nats://127.0.0.1:\(port ?? 4222)" }

    /// The server's log file.
    public nonisolated var logFile: URL { storeDirectory.appendingPathComponent("nats-server.log") }

    /// Whether the child process is running.
    public var isRunning: Bool { pid != nil && exitStatus == nil }

    /// Starts the server and waits until it accepts TCP connections.
    ///
    /// - Throws: `unavailable` if `nats-server` is missing, exits early (the last
    ///   line of its log says why) or does not listen within the ready timeout;
    ///   `conflict` if another server already uses the store directory.
    public func start() async throws {
        if isRunning { return }
        let binary = try findExecutable()
        do {
            try FileManager.default.createDirectory(at: storeDirectory, withIntermediateDirectories: true)
        } catch {
            throw NvisyError.invalidInput("cannot create NATS store directory \(storeDirectory.path): \(error.localizedDescription)")
        }
        let store = storeDirectory.path
        let lock = try DirectoryLock(directory: storeDirectory, name: "nvisy-nats.lock") { holder in
            "the NATS store \(store) is already in use by another nats-server\(holder); stop it, or give this server another store directory"
        }
        await stopLeftover(lock.previousOwner)
        // A port we picked can be taken by someone else before nats-server binds it: pick again.
        let portChosenHere = self.port == nil
        var attempt = 0
        while true {
            attempt += 1
            let port = try self.port ?? FreePort.loopback()
            self.port = port
            let child = try ChildProcess.spawn(binary, arguments: [
                "-js", "-a", "127.0.0.1", "-p", "\(port)", "-sd", storeDirectory.path,
                "-l", logFile.path, "--server_name", "nvisy-embedded",
            ], purpose: "the embedded nats-server")
            lock.recordOwner(pid: child)
            pid = child
            lastSpawned = child
            exitStatus = nil
            Task { [weak self] in
                let status = await ChildProcess.wait(child, timeout: nil)
                await self?.childExited(child, status: status ?? -1)
            }
            do {
                try await waitUntilListening(child, port: port)
                logger.info("nats-server started", metadata: ["url": "\(url)", "store": "\(storeDirectory.path)", "pid": "\(child)"])
                break
            } catch where portChosenHere && attempt < 3 && (lastLogLine()?.contains("address already in use") ?? false) {
                self.port = nil
            }
        }
        self.lock = lock
    }

    /// Waits until `port` accepts connections while our child is alive, or throws why not.
    private func waitUntilListening(_ child: pid_t, port: Int) async throws {
        let deadline = ContinuousClock.now.advanced(by: readyTimeout)
        while true {
            if let status = exitStatus {
                pid = nil
                throw NvisyError.unavailable(
                    "nats-server exited with status \(status) before accepting connections on 127.0.0.1:\(port): "
                    + "\(lastLogLine() ?? "no log") (log: \(logFile.path))")
            }
            if FreePort.isListening(port) {
                // Someone else may hold the port: only our child staying up says the listener is ours.
                try? await Task.sleep(for: .milliseconds(50))
                if exitStatus == nil { return }
                continue
            }
            if ContinuousClock.now >= deadline {
                await signalAndWait(child, SIGKILL, for: .seconds(5))
                pid = nil
                throw NvisyError.unavailable(
                    "timed out after \(readyTimeout.secondsDescription) waiting for nats-server to accept connections on 127.0.0.1:\(port) "
                    + "(log: \(logFile.path))")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops the server: SIGTERM (JetStream flushes and exits), SIGKILL if it is
    /// still running after `grace`. Releases the store lock. Safe to call twice.
    public func stop(grace: Duration = .seconds(5)) async {
        guard let child = pid else { return }
        pid = nil
        if exitStatus == nil {
            await signalAndWait(child, SIGTERM, for: grace)
            if exitStatus == nil {
                logger.warning("nats-server did not stop after SIGTERM; killing it")
                await signalAndWait(child, SIGKILL, for: .seconds(10))
            }
        }
        lock = nil
        logger.info("nats-server stopped", metadata: ["store": "\(storeDirectory.path)"])
    }

    /// Kills the server at once (SIGKILL), as a crash would. For tests.
    public func kill() async {
        guard let child = pid else { return }
        pid = nil
        if exitStatus == nil { await signalAndWait(child, SIGKILL, for: .seconds(10)) }
        lock = nil
    }

    private func childExited(_ child: pid_t, status: Int32) {
        if child == lastSpawned { exitStatus = status }
    }

    /// Sends `signal` and waits up to `limit` for the reaping task to see the exit.
    private func signalAndWait(_ child: pid_t, _ signal: Int32, for limit: Duration) async {
        Glibc.kill(child, signal)
        let deadline = ContinuousClock.now.advanced(by: limit)
        while exitStatus == nil && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A nats-server that an earlier host started on this store and left behind when it
    /// died: we hold the store lock now, so it is nobody's; stop it before starting ours.
    private func stopLeftover(_ previous: pid_t?) async {
        guard let previous, previous > 0, ChildProcess.isRunning(previous),
              let cmdline = try? String(contentsOfFile: "/proc/\(previous)/cmdline", encoding: .utf8),
              cmdline.contains("nats-server"), cmdline.contains(storeDirectory.path) else { return }
        logger.warning("stopping a nats-server (pid \(previous)) left running by an earlier nvisy on \(storeDirectory.path)")
        Glibc.kill(previous, SIGTERM)
        for _ in 0..<250 where ChildProcess.isRunning(previous) { try? await Task.sleep(for: .milliseconds(20)) }
        if ChildProcess.isRunning(previous) { Glibc.kill(previous, SIGKILL) }
        for _ in 0..<250 where ChildProcess.isRunning(previous) { try? await Task.sleep(for: .milliseconds(20)) }
    }

    private func findExecutable() throws -> String {
        if let executable {
            guard FileManager.default.isExecutableFile(atPath: executable) else {
                throw NvisyError.unavailable("nats-server not found at \(executable)")
            }
            return executable
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
            let candidate = dir + "/nats-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw NvisyError.unavailable(
            "nats-server not found on PATH or in /usr/sbin: install Debian's nats-server (scripts/install-deps.sh) or pass --nats-url")
    }

    private func lastLogLine() -> String? {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").last { $0.contains("[FTL]") || $0.contains("[ERR]") }.map(String.init)
            ?? text.split(separator: "\n").last.map(String.init)
    }
}
