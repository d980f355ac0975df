import CNvisyIsolation
import Foundation
import Logging
import NvisyCore

#if canImport(Glibc)
import Glibc
#endif

/// The child side of process isolation (`nvisy plugin-host`): loads one plugin in this process
/// and serves the host's provider calls on the socket at fd 3, with batches in the shared
/// memory at fd 4. Requests run on the plugin's in-process handles (the same code as
/// `isolation = "none"`): batch calls on the reader thread (see ``serve(_:)``), others as
/// tasks; answers are written under one lock.
///
/// `@unchecked Sendable`: the tables of instances, cursors and `inline` are guarded by `lock`; the socket
/// is written under `sendLock` and read by one thread.
public final class PluginChildServer: @unchecked Sendable {
    /// What the child is told on its command line.
    public struct Options: Sendable {
        public var manifest: URL
        /// Swift plugins: the library the host resolved (the child has no search path of its own).
        public var library: String?
        /// Python plugins: the virtual environment the embedded interpreter uses.
        public var venv: URL?
        public var memoryLimitMB: Int
        public var cpuLimitSeconds: Int
        public var user: String?
        public var socketFD: Int32 = 3
        public var regionFD: Int32 = 4

        public init(manifest: URL, library: String?, venv: URL? = nil, memoryLimitMB: Int, cpuLimitSeconds: Int, user: String?) {
            self.manifest = manifest
            self.library = library
            self.venv = venv
            self.memoryLimitMB = memoryLimitMB
            self.cpuLimitSeconds = cpuLimitSeconds
            self.user = user
        }
    }

    private let socket: FrameSocket
    private let region: SharedRegion
    private let sendLock = NSLock()
    private let lock = NSLock()
    private var factories: [String: any ProviderFactory] = [:]
    private var describeAnswer = Data()
    /// Set when the plugin could not be loaded: every call answers it.
    private var loadError: NvisyError?
    private var instances: [UInt32: any ProviderInstance] = [:]
    private var cursors: [UInt32: any BatchCursor] = [:]
    private var nextID: UInt32 = 1
    private let callOptions = ProviderCallOptions(timeout: nil, isolation: .callerThread)
    /// How the batch calls of each instance and cursor (``inlineKey``) fared on the reader thread.
    private var inline: [UInt64: InlineRecord] = [:]
    /// A batch call that held the reader thread longer than this was slow (see ``InlineRecord``).
    static let inlineLimit: Duration = .milliseconds(2)

    /// An instance's or cursor's calls on the reader thread: once at least 4 were slow and
    /// they are more than a quarter of its calls, its calls run as tasks from then on. Not
    /// at the first slow call: on a loaded machine the reader is now and then preempted in
    /// the middle of a short call, and wall time is what holds the other requests up.
    struct InlineRecord {
        var calls = 0
        var slowCalls = 0
        var demoted = false

        mutating func count(slow: Bool) {
            calls += 1
            if slow { slowCalls += 1 }
            if slowCalls >= 4, slowCalls * 4 > calls { demoted = true }
        }
    }

    private init(socket: Int32, region: SharedRegion) {
        self.socket = FrameSocket(fd: socket)
        self.region = region
    }

    /// Confines this process, loads the plugin and serves until the host closes the socket
    /// (then the process exits). Never returns.
    public static func run(_ options: Options, logger: Logger) async -> Never {
        // The manifest is read before the switch of user (the host could read it, so may we);
        // the plugin's own files are opened only after it, as that user.
        let manifest = Result { try PluginManifest.load(from: options.manifest) }
        let switchedUser = getuid() == 0 && options.user != nil
        var why = [CChar](repeating: 0, count: 512)
        let memory = UInt64(max(0, options.memoryLimitMB)) << 20
        if nvisy_child_confine(memory, UInt64(max(0, options.cpuLimitSeconds)), options.user, getppid(), &why, why.count) != 0 {
            FileHandle.standardError.write(Data("nvisy plugin-host: \(String(cString: why))\n".utf8))
            exit(70)
        }
        let region: SharedRegion
        do {
            region = try SharedRegion(fd: options.regionFD, side: .child)
        } catch {
            FileHandle.standardError.write(Data("nvisy plugin-host: \(error)\n".utf8))
            exit(71)
        }
        let server = PluginChildServer(socket: options.socketFD, region: region)
        await server.load(manifest, options, switchedUser: switchedUser, logger: logger)
        let reader = Thread { server.readLoop() }
        reader.name = "nvisy-plugin-host-reader"
        reader.start()
        while true { try? await Task.sleep(for: .seconds(3600)) }
    }

    private func load(_ parsed: Result<PluginManifest, any Error>, _ options: Options, switchedUser: Bool, logger: Logger) async {
        HostAPI.logger = logger
        do {
            var manifest = try parsed.get()
            let runtime: any PluginRuntime
            switch manifest.runtime {
            case "swift":
                manifest.library = options.library ?? manifest.library
                runtime = SwiftPluginRuntime(resolver: PluginLibraryResolver(searchPath: []))
            case "python":
                runtime = PythonRuntime(venv: options.venv ?? PythonRuntime.defaultVenv, logger: logger)
            default:
                throw NvisyError.invalidInput("no \"\(manifest.runtime)\" runtime in the plugin host")
            }
            let loaded = try await runtime.load(manifest)
            factories = Dictionary(uniqueKeysWithValues: loaded.providers.map { ($0.descriptor.name, $0) })
            describeAnswer = try JSONEncoder().encode(DescribeAnswer(version: loaded.version, location: loaded.location,
                                                                     providers: loaded.providers.map(\.descriptor)))
        } catch let e as NvisyError {
            // Running as the unprivileged user, a file the host could read may be out of reach.
            let text = e.message.lowercased()
            let hint = switchedUser && ["permission", "not found", "cannot load", "cannot read"].contains(where: text.contains)
                ? " (the plugin process runs as user \"\(options.user ?? "")\": it must be able to read the library and every directory above it)" : ""
            loadError = NvisyError(e.kind, e.message + hint, retry: .permanent)
        } catch {
            loadError = NvisyError(.invalidInput, "\(error)", retry: .permanent)
        }
    }

    private func readLoop() {
        let reader = FrameReader(fd: socket.fd)
        while true {
            guard let frame = try? reader.receive() else { break }
            switch frame.op {
            case .release:
                var r = WireReader(frame.body)
                if let slot = try? r.int(), slot >= SharedRegion.slotsPerSide, slot < 2 * SharedRegion.slotsPerSide {
                    region.release(slot)
                }
            case .destroy, .closeCursor:
                handleQuietly(frame)
            default:
                serve(frame)
            }
        }
        // The host closed the socket (or died): nothing is left to serve.
        exit(0)
    }

    /// Runs a request: the batch calls (`next`, `write`, `transform`, `embed`) on this reader
    /// thread until they first suspend, the rest as tasks.
    ///
    /// Why on the reader thread: a task is a hand-off to a cooperative thread that must be woken
    /// (a futex wake and the scheduler's latency) on every call, and the crossing benchmark at
    /// batch 64 went from 0.27–0.34× to 0.57–0.59× of in process without it. A native call in
    /// the child runs on its caller's thread, so it runs here whole; a Python call suspends at
    /// once (it runs on the interpreter's thread) and frees the reader. While a call runs here
    /// the requests behind it wait; an instance (or cursor) whose calls keep holding the reader
    /// longer than ``inlineLimit`` has its later calls run as tasks (``InlineRecord``), so one
    /// slow plugin cannot keep holding up the others. A hung call is ended by the host, which
    /// kills this process when the call outlives its timeout, as before.
    private func serve(_ frame: IsolationFrame) {
        guard let key = Self.inlineKey(frame), !lock.withLock({ inline[key]?.demoted ?? false }) else {
            Task { await self.answer(frame) }
            return
        }
        let start = ContinuousClock.now
        Task.immediate { await self.answer(frame) }
        let wasSlow = ContinuousClock.now - start > Self.inlineLimit
        lock.withLock { inline[key, default: InlineRecord()].count(slow: wasSlow) }
    }

    /// The instance (or, for `next`, the cursor) a batch call is for, as a key of ``slow``;
    /// nil for the calls that never run on the reader thread.
    private static func inlineKey(_ frame: IsolationFrame) -> UInt64? {
        var r = WireReader(frame.body)
        guard let id = try? r.u32() else { return nil }
        switch frame.op {
        case .next: return 1 << 32 | UInt64(id)
        case .write, .transform, .embed: return UInt64(id)
        default: return nil
        }
    }

    private func send(_ frame: IsolationFrame) {
        do {
            try sendLock.withLock { try socket.send(frame) }
        } catch {
            exit(0)  // the host is gone
        }
    }

    private func answer(_ frame: IsolationFrame) async {
        do {
            if let loadError, frame.op != .describe { throw loadError }
            let (op, body) = try await handle(frame)
            send(IsolationFrame(op, call: frame.call, body: body))
        } catch {
            let e = (error as? NvisyError) ?? NvisyError(.internal, "\(error)", retry: .transient)
            send(IsolationFrame(.error, call: frame.call, body: e.wire))
        }
    }

    private func handleQuietly(_ frame: IsolationFrame) {
        var r = WireReader(frame.body)
        guard let id = try? r.u32() else { return }
        if frame.op == .destroy {
            let i = lock.withLock {
                inline[UInt64(id)] = nil
                return instances.removeValue(forKey: id)
            }
            if let i { Task { await i.close() } }
        } else {
            lock.withLock {
                inline[1 << 32 | UInt64(id)] = nil
                return cursors.removeValue(forKey: id)
            }?.close()
        }
    }

    private func register<T>(_ value: T, in table: ReferenceWritableKeyPath<PluginChildServer, [UInt32: T]>) -> UInt32 {
        lock.withLock {
            let id = nextID
            nextID &+= 1
            self[keyPath: table][id] = value
            return id
        }
    }

    private func instance<T>(_ r: inout WireReader, as type: T.Type, _ what: String) throws -> T {
        let id = try r.u32()
        guard let i = lock.withLock({ instances[id] }) else { throw NvisyError.internal("no instance \(id) in the plugin process") }
        guard let typed = i as? T else { throw NvisyError.invalidInput("\(i.descriptor.id) cannot \(what)") }
        return typed
    }

    private func handle(_ frame: IsolationFrame) async throws -> (IsolationOp, Data) {
        var r = WireReader(frame.body)
        switch frame.op {
        case .describe:
            if let loadError { throw loadError }
            return (.ok, describeAnswer)
        case .create:
            let name = try r.string()
            let config = try JSONDecoder().decode(JSONValue.self, from: try r.bytes())
            let credentials = try JSONDecoder().decode(JSONValue.self, from: try r.bytes())
            guard let factory = factories[name] else { throw NvisyError.notFound("no provider \"\(name)\" in the plugin process") }
            let i = try await factory.makeInstance(config: config, credentials: credentials, options: callOptions)
            return (.ok, IsolatedProviderInstance.id(register(i, in: \.instances)))
        case .check:
            try await instance(&r, as: (any ProviderInstance).self, "check").check()
            return (.ok, Data())
        case .read:
            let source = try instance(&r, as: (any SourceInstance).self, "read")
            let token = try r.bytes()
            let cursor = try await source.openCursor(after: token.isEmpty ? nil : token)
            return (.ok, IsolatedProviderInstance.id(register(cursor, in: \.cursors)))
        case .transform:
            let t = try instance(&r, as: (any TransformInstance).self, "transform")
            let (items, _) = try RegionBlob.get(&r, region: region) { try IsolatedBatchCodec.decode($0) }
            let cursor = try await t.transform(items)
            return (.ok, IsolatedProviderInstance.id(register(cursor, in: \.cursors)))
        case .next:
            let id = try r.u32()
            let max = try r.int()
            guard let cursor = lock.withLock({ cursors[id] }) else { throw NvisyError.internal("no cursor \(id) in the plugin process") }
            guard let items = try await cursor.next(maxItems: max) else { return (.end, Data()) }
            var w = WireWriter()
            let size = IsolatedBatchCodec.size(of: items)
            try RegionBlob.check(size, "a batch")
            _ = RegionBlob.put(&w, region: region, size: size) { IsolatedBatchCodec.encode(items, into: $0) }
            return (.ok, w.data)
        case .write:
            let sink = try instance(&r, as: (any SinkInstance).self, "write")
            let (items, _) = try RegionBlob.get(&r, region: region) { try IsolatedBatchCodec.decode($0) }
            try await sink.write(items)
            return (.ok, Data())
        case .embed:
            let e = try instance(&r, as: (any EmbeddingInstance).self, "embed")
            let (texts, _) = try RegionBlob.get(&r, region: region) { try IsolatedBatchCodec.decodeTexts($0) }
            let vectors = try await e.embed(texts)
            guard Set(vectors.map(\.count)).count <= 1 else {
                throw NvisyError(.unavailable, "\(e.descriptor.id): embed returned vectors of different lengths", retry: .permanent)
            }
            var w = WireWriter()
            let size = IsolatedBatchCodec.size(of: vectors)
            try RegionBlob.check(size, "the vectors")
            _ = RegionBlob.put(&w, region: region, size: size) { IsolatedBatchCodec.encode(vectors, into: $0) }
            return (.ok, w.data)
        case .complete:
            let c = try instance(&r, as: (any CompletionInstance).self, "complete")
            let request = try JSONDecoder().decode(JSONValue.self, from: try r.bytes())
            let call = frame.call
            let response = try await c.complete(request) { [self] token in
                send(IsolationFrame(.token, call: call, body: Data(token.utf8)))
            }
            return (.ok, try JSONEncoder().encode(response))
        default:
            throw NvisyError.internal("the plugin process got an unexpected frame (op \(frame.op))")
        }
    }
}

/// The answer to `describe`: what the plugin is.
struct DescribeAnswer: Codable, Sendable {
    var version: String
    var location: String?
    var providers: [ProviderDescriptor]
}
