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
/// fails at once with a `conflict` error instead of corrupting it. A restart
/// (``stop()`` then ``start()``) keeps the same port, so clients reconnect.
public actor EmbeddedNATSServer {
    public nonisolated let storeDirectory: URL
    public private(set) var port: Int?
    private let executable: String?
    private let readyTimeout: Duration
    private let logger: Logger
    private var process: Process?
    private var lock: StoreLock?

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
    public var isRunning: Bool { process?.isRunning ?? false }

    /// Starts the server and waits until it accepts TCP connections.
    ///
    /// - Throws: `unavailable` if `nats-server` is missing, exits early (the last
    ///   line of its log says why) or does not listen within the ready timeout;
    ///   `conflict` if another server already uses the store directory.
    public func start() async throws {
        if let process, process.isRunning { return }
        let binary = try findExecutable()
        do {
            try FileManager.default.createDirectory(at: storeDirectory, withIntermediateDirectories: true)
        } catch {
            throw NvisyError.invalidInput("cannot create NATS store directory \(storeDirectory.path): \(error.localizedDescription)")
        }
        let lock = try StoreLock(directory: storeDirectory)
        let port = try self.port ?? Loopback.freePort()
        self.port = port

        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["-js", "-a", "127.0.0.1", "-p", "\(port)", "-sd", storeDirectory.path,
                       "-l", logFile.path, "--server_name", "nvisy-embedded"]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do {
            try p.run()
        } catch {
            throw NvisyError.unavailable("cannot start \(binary): \(error.localizedDescription)")
        }
        lock.writeOwner(pid: p.processIdentifier)
        let deadline = ContinuousClock.now.advanced(by: readyTimeout)
        while !Loopback.isListening(port: port) {
            if !p.isRunning {
                p.waitUntilExit()
                throw NvisyError.unavailable(
                    "nats-server exited with status \(p.terminationStatus) before accepting connections on 127.0.0.1:\(port): "
                    + "\(lastLogLine() ?? "no log") (log: \(logFile.path))")
            }
            if ContinuousClock.now >= deadline {
                p.terminate()
                throw NvisyError.unavailable(
                    "timed out after \(readyTimeout.secondsDescription) waiting for nats-server to accept connections on 127.0.0.1:\(port) "
                    + "(log: \(logFile.path))")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        self.process = p
        self.lock = lock
        logger.info("nats-server started", metadata: ["url": "\(url)", "store": "\(storeDirectory.path)", "pid": "\(p.processIdentifier)"])
    }

    /// Stops the server: SIGTERM (JetStream flushes and exits), SIGKILL if it is
    /// still running after `grace`. Releases the store lock. Safe to call twice.
    public func stop(grace: Duration = .seconds(5)) async {
        guard let p = process else { return }
        process = nil
        if p.isRunning {
            p.terminate()
            let deadline = ContinuousClock.now.advanced(by: grace)
            while p.isRunning && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            if p.isRunning {
                logger.warning("nats-server did not stop after SIGTERM; killing it")
                Glibc.kill(p.processIdentifier, SIGKILL)
                while p.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
            }
        }
        lock = nil
        logger.info("nats-server stopped", metadata: ["store": "\(storeDirectory.path)"])
    }

    /// Kills the server at once (SIGKILL), as a crash would. For tests.
    public func kill() async {
        guard let p = process else { return }
        process = nil
        if p.isRunning {
            Glibc.kill(p.processIdentifier, SIGKILL)
            while p.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        }
        lock = nil
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

/// An exclusive `flock` on `<store>/nvisy-nats.lock`, held while a server uses the store.
final class StoreLock: Sendable {
    let path: String
    private let fd: Int32

    init(directory: URL) throws {
        path = directory.appendingPathComponent("nvisy-nats.lock").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw NvisyError.unavailable("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw NvisyError.conflict(
                "the NATS store \(directory.path) is already in use by another nats-server"
                + (holder.isEmpty ? "" : " (pid \(holder))")
                + "; stop it, or give this server another store directory")
        }
        self.fd = fd
        // A host that crashed leaves its nats-server running without the lock:
        // the pid it wrote names it. Refuse to start a second server on the store.
        let previous = (try? String(contentsOfFile: path, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if let pid = Int32(previous), pid > 0,
           let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
           cmdline.contains("nats-server"), cmdline.contains(directory.path) {
            throw NvisyError.conflict(
                "a nats-server (pid \(pid)) left over from an earlier run still uses the NATS store \(directory.path); "
                + "stop it (kill \(pid)) and start again")
        }
    }

    func writeOwner(pid: Int32) {
        ftruncate(fd, 0)
        let bytes = Array("\(pid)\n".utf8)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// Loopback TCP helpers.
enum Loopback {
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NvisyError.unavailable("cannot open a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw NvisyError.unavailable("cannot bind a loopback port: \(String(cString: strerror(errno)))") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func isListening(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
