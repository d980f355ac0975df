import CNvisyIsolation
import Dispatch
import Foundation
import NvisyCore

#if canImport(Glibc)
import Glibc
#endif

/// One running `nvisy plugin-host` child, as the host sees it: the socket to it, the shared
/// memory, the calls waiting for an answer, and a watchdog that kills the child when a call
/// outlives its timeout. When the child dies (crash, cap, kill), every waiting call fails with
/// a transient error naming why, and `onExit` tells the supervisor.
///
/// `@unchecked Sendable`: the mutable state (`pending`, `nextCall`, `death`, `killReason`) is
/// only touched under `lock`; the socket is written under `sendLock` and read by one thread.
final class PluginChildProcess: @unchecked Sendable {
    let pid: pid_t
    let generation: Int
    let region: SharedRegion
    let plugin: String
    let startedAt = ContinuousClock.now
    private let socket: FrameSocket
    private let lock = NSLock()
    private let sendLock = NSLock()
    private var pending: [UInt32: ChildCall] = [:]
    private var nextCall: UInt32 = 1
    private var death: NvisyError?
    private var killReason: String?
    private var watchdog: DispatchSourceTimer?
    private let onExit: @Sendable (PluginChildProcess, String) -> Void

    /// Starts `executable plugin-host …args` with the socket on fd 3 and the region on fd 4,
    /// a minimal environment and nothing else inherited.
    init(executable: String, arguments: [String], environment: [String], plugin: String, generation: Int,
         onExit: @escaping @Sendable (PluginChildProcess, String) -> Void) throws {
        let region = try SharedRegion()
        var fds: [Int32] = [-1, -1]
        guard nvisy_socketpair(&fds) == 0 else {
            throw NvisyError(.unavailable, "socketpair failed: \(String(cString: strerror(errno)))", retry: .transient)
        }
        var pid: pid_t = 0
        let argv = [executable] + arguments
        let rc = withCStrings(argv) { a in withCStrings(environment) { e in nvisy_spawn_child(executable, a, e, fds[1], region.fd, &pid) } }
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw NvisyError(.unavailable, "cannot start the plugin host \(executable): \(String(cString: strerror(rc)))", retry: .permanent)
        }
        _ = nvisy_socket_send_timeout(fds[0], 10_000)
        self.pid = pid
        self.region = region
        self.socket = FrameSocket(fd: fds[0])
        self.plugin = plugin
        self.generation = generation
        self.onExit = onExit
        let reader = Thread { [self] in readLoop() }
        reader.name = "nvisy-plugin-\(plugin)-\(pid)"
        reader.start()
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        timer.setEventHandler { [weak self] in self?.checkDeadlines() }
        timer.resume()
        watchdog = timer
    }

    deinit {
        watchdog?.cancel()
        close(socket.fd)
    }

    /// Whether the child still answers (it has not died and was not killed).
    var isAlive: Bool { lock.withLock { death == nil && killReason == nil } }

    /// Sends a request and waits for its answer (`ok` or `end`); an `error` answer is thrown.
    /// `hostSlot`: a region slot the request's blob sits in, freed when the answer arrives.
    func call(_ op: IsolationOp, body: Data = Data(), timeout: Duration?, hostSlot: Int? = nil,
              onToken: (@Sendable (String) -> Void)? = nil) async throws -> IsolationFrame {
        try await start(op, body: body, timeout: timeout, hostSlot: hostSlot, onToken: onToken).value
    }

    /// Sends a request from the calling thread and answers the call to await; the answer is
    /// stored in it by the reader thread (or the child's death, when it dies first).
    /// `releasing`: a slot of the child's side to give back in the same `sendmsg` (see ``post``).
    func start(_ op: IsolationOp, body: Data = Data(), timeout: Duration?, hostSlot: Int? = nil,
               releasing: Int? = nil, onToken: (@Sendable (String) -> Void)? = nil) -> ChildCall {
        let call = ChildCall(op: op, timeout: timeout, hostSlot: hostSlot, onToken: onToken)
        let id: UInt32? = lock.withLock {
            if death != nil { return nil }
            let id = nextCall
            nextCall &+= 1
            pending[id] = call
            return id
        }
        guard let id else {
            if let hostSlot { region.release(hostSlot) }
            call.complete(.failure(lock.withLock { death! }))
            return call
        }
        do {
            var frames = [IsolationFrame(op, call: id, body: body)]
            if let releasing { frames.insert(IsolationFrame(.release, call: 0, body: IsolatedProviderInstance.id(UInt32(releasing))), at: 0) }
            try sendLock.withLock { try socket.send(frames) }
        } catch {
            // The reader thread sees the broken socket too and fails the call; kill to be sure it ends.
            kill(reason: "its socket broke (\(error))")
        }
        return call
    }

    /// Sends a frame that gets no answer (`release`, `destroy`, `closeCursor`); ignored when the child is gone.
    func post(_ op: IsolationOp, body: Data) {
        guard isAlive else { return }
        try? sendLock.withLock { try socket.send(IsolationFrame(op, call: 0, body: body)) }
    }

    /// Kills the child (its whole process group) with SIGKILL; `reason` becomes its crash reason.
    func kill(reason: String) {
        let first = lock.withLock {
            defer { if killReason == nil { killReason = reason } }
            return killReason == nil && death == nil
        }
        if first { Glibc.kill(-pid, SIGKILL); Glibc.kill(pid, SIGKILL) }
    }

    private func checkDeadlines() {
        let now = ContinuousClock.now
        let late = lock.withLock { pending.values.first { $0.deadline.map { $0 < now } ?? false } }
        if let late {
            kill(reason: "did not answer `\(late.op)` within \(late.timeout.map { "\($0)" } ?? "its timeout") and was killed")
        }
    }

    // MARK: Reading answers

    private func readLoop() {
        let reader = FrameReader(fd: socket.fd)
        while true {
            let frame: IsolationFrame?
            do {
                frame = try reader.receive()
            } catch {
                kill(reason: "sent a malformed frame (\(error))")
                break
            }
            guard let frame else { break }
            if frame.op == .token {
                let onToken = lock.withLock { pending[frame.call]?.onToken }
                onToken?(String(decoding: frame.body, as: UTF8.self))
                continue
            }
            guard let p = lock.withLock({ pending.removeValue(forKey: frame.call) }) else { continue }
            if let slot = p.hostSlot { region.release(slot) }
            p.complete(.success(frame))
        }
        exited()
    }

    /// The socket ended: reap the child, say why it died, fail what was waiting.
    private func exited() {
        watchdog?.cancel()
        var status: Int32 = 0
        var reason: String
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7f
        if signal == 0 {
            reason = "exited with status \((status >> 8) & 0xff)"
        } else {
            let name = Self.signalNames[signal].map { " (\($0))" } ?? ""
            reason = "was killed by signal \(signal)\(name)"
        }
        // Mark it dead and take the waiting calls in one step: a call that registers later sees `death`.
        let waiting = lock.withLock { () -> [ChildCall] in
            if let killReason { reason = killReason }
            death = NvisyError(.unavailable, "plugin \"\(plugin)\": its process \(pid) \(reason); the call is retried in a new process",
                               retry: .transient)
            defer { pending = [:] }
            return Array(pending.values)
        }
        let error = lock.withLock { death! }
        // The supervisor records the crash before the callers hear of it, so that what they
        // see next (GET /api/v1/plugins, a retry) already knows.
        onExit(self, reason)
        for p in waiting { p.complete(.failure(error)) }
    }

    static let signalNames: [Int32: String] = [
        SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGKILL: "SIGKILL", SIGILL: "SIGILL",
        SIGTRAP: "SIGTRAP", SIGFPE: "SIGFPE", SIGXCPU: "SIGXCPU, CPU time cap", SIGTERM: "SIGTERM",
    ]
}

/// Calls `body` with a NULL-terminated C array of the strings (valid only inside it).
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
