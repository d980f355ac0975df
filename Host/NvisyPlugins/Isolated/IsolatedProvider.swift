import Foundation
import NvisyCore

/// Makes instances of a provider that runs in a plugin-host child.
struct IsolatedProviderFactory: ProviderFactory {
    let descriptor: ProviderDescriptor
    let supervisor: IsolatedPluginSupervisor

    func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws
        -> any ProviderInstance
    {
        let instance = IsolatedProviderInstance(descriptor: descriptor, supervisor: supervisor,
                                                config: try JSONEncoder().encode(config),
                                                credentials: try JSONEncoder().encode(credentials), timeout: options.timeout)
        _ = try await instance.bound()  // create it now, so a bad config fails here as in-process
        return instance
    }
}

/// A provider instance in a plugin-host child. It keeps its config and credentials (in host
/// memory, as an in-process instance does) so that after the child crashes and is restarted
/// the next call re-creates it there: a retried write goes on in the new process. Credentials
/// reach the child only in the `create` frame, never through its environment.
///
/// `@unchecked Sendable`: `remote` and `closed` are guarded by `lock`; the rest is immutable.
final class IsolatedProviderInstance: SourceInstance, SinkInstance, TransformInstance, EmbeddingInstance,
    CompletionInstance, @unchecked Sendable
{
    let descriptor: ProviderDescriptor
    let supervisor: IsolatedPluginSupervisor
    let config: Data
    let credentials: Data
    let timeout: Duration?
    private let lock = NSLock()
    private var remote: (child: PluginChildProcess, id: UInt32)?
    private var closed = false

    init(descriptor: ProviderDescriptor, supervisor: IsolatedPluginSupervisor, config: Data, credentials: Data, timeout: Duration?) {
        self.descriptor = descriptor
        self.supervisor = supervisor
        self.config = config
        self.credentials = credentials
        self.timeout = timeout
    }

    deinit {
        if !closed, let r = remote { r.child.post(.destroy, body: Self.id(r.id)) }
    }

    static func id(_ v: UInt32) -> Data {
        var w = WireWriter()
        w.u32(v)
        return w.data
    }

    /// The instance in the current child, created there first if this child has not got it yet.
    func bound() async throws -> (child: PluginChildProcess, id: UInt32) {
        if lock.withLock({ closed }) { throw NvisyError.internal("\(descriptor.id): the instance is closed") }
        let child = try await supervisor.current()
        if let r = lock.withLock({ remote }), r.child === child { return r }
        var w = WireWriter()
        w.string(descriptor.name)
        w.bytes(config)
        w.bytes(credentials)
        let answer = try await child.call(.create, body: w.data, timeout: timeout)
        var r = WireReader(answer.body)
        let id = try r.u32()
        let bound = (child: child, id: id)
        lock.withLock { remote = bound }
        return bound
    }

    func check() async throws {
        let (child, id) = try await bound()
        _ = try await child.call(.check, body: Self.id(id), timeout: timeout)
    }

    func close() async {
        let r: (child: PluginChildProcess, id: UInt32)? = lock.withLock {
            defer { closed = true }
            return closed ? nil : remote
        }
        if let r { r.child.post(.destroy, body: Self.id(r.id)) }
    }

    func openCursor(after resumeToken: Data?) async throws -> any BatchCursor {
        let (child, id) = try await bound()
        var w = WireWriter()
        w.u32(id)
        w.bytes(resumeToken ?? Data())
        let answer = try await child.call(.read, body: w.data, timeout: timeout)
        var r = WireReader(answer.body)
        return IsolatedCursor(child: child, id: try r.u32(), timeout: timeout, instance: self)
    }

    func write(_ items: [ProviderItem]) async throws {
        _ = try await send(.write, size: IsolatedBatchCodec.size(of: items), what: "a batch") {
            IsolatedBatchCodec.encode(items, into: $0)
        }
    }

    func transform(_ items: [ProviderItem]) async throws -> any BatchCursor {
        let (child, answer) = try await send(.transform, size: IsolatedBatchCodec.size(of: items), what: "a batch") {
            IsolatedBatchCodec.encode(items, into: $0)
        }
        var r = WireReader(answer.body)
        return IsolatedCursor(child: child, id: try r.u32(), timeout: timeout, instance: self)
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        let (child, answer) = try await send(.embed, size: IsolatedBatchCodec.size(of: texts), what: "a batch of texts") {
            IsolatedBatchCodec.encode(texts, into: $0)
        }
        var r = WireReader(answer.body)
        let (vectors, childSlot) = try RegionBlob.get(&r, region: child.region) { try IsolatedBatchCodec.decodeVectors($0) }
        if let childSlot { child.post(.release, body: Self.id(UInt32(childSlot))) }
        return vectors
    }

    /// The calls that carry a blob: binds the instance, writes its id and the `size`-byte blob
    /// (`encode` fills it, in a region slot when it is big enough), calls and answers the child
    /// that answered with its answer.
    private func send(_ op: IsolationOp, size: Int, what: String, encode: (UnsafeMutableRawBufferPointer) -> Void) async throws
        -> (PluginChildProcess, IsolationFrame)
    {
        try RegionBlob.check(size, what)
        let (child, id) = try await bound()
        var w = WireWriter()
        w.u32(id)
        let slot = RegionBlob.put(&w, region: child.region, size: size, fill: encode)
        return (child, try await child.call(op, body: w.data, timeout: timeout, hostSlot: slot))
    }

    func complete(_ request: JSONValue, onToken: @escaping @Sendable (String) -> Void) async throws -> JSONValue {
        let (child, id) = try await bound()
        var w = WireWriter()
        w.u32(id)
        w.bytes(try JSONEncoder().encode(request))
        let answer = try await child.call(.complete, body: w.data, timeout: timeout, onToken: onToken)
        if answer.body.isEmpty { return [:] }
        return try JSONDecoder().decode(JSONValue.self, from: answer.body)
    }
}
