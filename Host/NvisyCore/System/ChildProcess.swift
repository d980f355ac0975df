import Foundation

/// Runs programs with `posix_spawn` and reaps them with `waitpid` on a dedicated thread.
///
/// Foundation's `Process` on Linux can miss the exit of a child whose own child daemonizes
/// (`pg_ctl start` leaves a zombie and the termination handler never fires), so nvisy spawns
/// and reaps its children itself. Children start in their own process group: a Ctrl-C reaches
/// only the host, which then stops them in order.
public enum ChildProcess {
    /// The outcome of a finished program.
    public struct Result: Sendable {
        public var status: Int32
        /// Standard output and standard error, interleaved.
        public var output: String
    }

    /// Runs `executable` and waits at most `timeout` for it to exit; on timeout it is killed
    /// and the error names what was waited for.
    public static func run(
        _ executable: String, arguments: [String], environment: [String: String]? = nil,
        timeout: Duration = .seconds(60), purpose: String
    ) async throws(NvisyError) -> Result {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0, fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0 else {
            throw NvisyError.unavailable("cannot create a pipe for \(purpose): \(String(cString: strerror(errno)))")
        }
        let pid: pid_t
        do {
            pid = try spawn(executable, arguments: arguments, environment: environment, stdoutFD: fds[1], purpose: purpose)
        } catch {
            close(fds[0]); close(fds[1])
            throw error
        }
        close(fds[1])
        let readFD = fds[0]
        let output = AsyncStream<String>.makeStream()
        Thread.detachNewThread {
            var data = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
                if n > 0 { data.append(contentsOf: buffer[0..<n]) } else if n < 0 && errno == EINTR { continue } else { break }
            }
            close(readFD)
            output.continuation.yield(String(decoding: data, as: UTF8.self))
            output.continuation.finish()
        }
        let status = await wait(pid, timeout: timeout)
        guard let status else {
            throw NvisyError.unavailable("timed out after \(timeout) waiting for \(purpose) (\(URL(fileURLWithPath: executable).lastPathComponent))")
        }
        var text = ""
        for await chunk in output.stream { text = chunk }
        return Result(status: status, output: text)
    }

    /// Starts `executable` with stdout and stderr going to `stdoutFD` (or /dev/null when nil)
    /// and returns its pid. The caller must reap it (``wait(_:timeout:)``).
    public static func spawn(
        _ executable: String, arguments: [String], environment: [String: String]? = nil,
        stdoutFD: Int32? = nil, purpose: String
    ) throws(NvisyError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let stdoutFD {
            posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
            posix_spawn_file_actions_adddup2(&actions, stdoutFD, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        guard rc == 0 else {
            throw NvisyError.unavailable("cannot start \(executable) (\(purpose)): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Waits for `pid` to exit on a dedicated thread; nil (after killing it) if `timeout` passes first.
    /// Returns the exit status, or 128 + signal number when a signal ended it.
    public static func wait(_ pid: pid_t, timeout: Duration?) async -> Int32? {
        let exited = AsyncStream<Int32>.makeStream()
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            exited.continuation.yield(code)
            exited.continuation.finish()
        }
        guard let timeout else {
            for await code in exited.stream { return code }
            return nil
        }
        let result: Int32? = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { for await code in exited.stream { return code }; return nil }
            group.addTask { try? await Task.sleep(for: timeout); return nil }
            let first = await group.next() ?? nil
            if first == nil {
                kill(pid, SIGKILL)  // the waiting thread reaps it
            }
            group.cancelAll()
            return first
        }
        return result
    }
}

extension ChildProcess {
    /// Whether `pid` is a live process (not gone, and not a zombie waiting to be reaped).
    public static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }
}
