import CNvisyIsolation
import Foundation
import Logging
import NvisyCore

#if canImport(Glibc)
import Glibc
#endif

/// The child side of process isolation (`nvisy plugin-host`): loads one plugin in this process
/// and serves the host's provider calls on the socket at fd 3, with batches in the shared
/// memory at fd 4. Each request runs as its own task on the plugin's in-process handles (the
/// same code as `isolation = "none"`); answers are written under one lock.
///
/// `@unchecked Sendable`: the tables of instances and cursors are guarded by `lock`; the socket
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
            case .next, .write, .transform, .embed:
                if !FileManager.default.fileExists(atPath: "/tmp/iso2-noimm") {
                    Task.immediate { await self.answer(frame) }
                } else {
                    Task { await self.answer(frame) }
                }
            default:
                Task { await self.answer(frame) }
            }
        }
        // The host closed the socket (or died): nothing is left to serve.
        exit(0)
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
            if let i = lock.withLock({ instances.removeValue(forKey: id) }) { Task { await i.close() } }
        } else {
            lock.withLock { cursors.removeValue(forKey: id) }?.close()
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
