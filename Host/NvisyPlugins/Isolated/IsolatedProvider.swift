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
        let (child, id) = try await bound()
        var w = WireWriter()
        w.u32(id)
        let size = IsolatedBatchCodec.size(of: items)
        try RegionBlob.check(size, "a batch")
        let slot = RegionBlob.put(&w, region: child.region, size: size) {
            IsolatedBatchCodec.encode(items, into: $0)
        }
        _ = try await child.call(.write, body: w.data, timeout: timeout, hostSlot: slot)
    }

    func transform(_ items: [ProviderItem]) async throws -> any BatchCursor {
        let (child, id) = try await bound()
        var w = WireWriter()
        w.u32(id)
        let size = IsolatedBatchCodec.size(of: items)
        try RegionBlob.check(size, "a batch")
        let slot = RegionBlob.put(&w, region: child.region, size: size) {
            IsolatedBatchCodec.encode(items, into: $0)
        }
        let answer = try await child.call(.transform, body: w.data, timeout: timeout, hostSlot: slot)
        var r = WireReader(answer.body)
        return IsolatedCursor(child: child, id: try r.u32(), timeout: timeout, instance: self)
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        let (child, id) = try await bound()
        var w = WireWriter()
        w.u32(id)
        let size = IsolatedBatchCodec.size(of: texts)
        try RegionBlob.check(size, "a batch")
        let slot = RegionBlob.put(&w, region: child.region, size: size) {
            IsolatedBatchCodec.encode(texts, into: $0)
        }
        let answer = try await child.call(.embed, body: w.data, timeout: timeout, hostSlot: slot)
        var r = WireReader(answer.body)
        let (vectors, childSlot) = try RegionBlob.get(&r, region: child.region) { try IsolatedBatchCodec.decodeVectors($0) }
        if let childSlot { child.post(.release, body: Self.id(UInt32(childSlot))) }
        return vectors
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

/// A cursor in a plugin-host child. It belongs to the child that opened it: when that child
/// dies, `next` fails with its transient error and the runtime reopens after the last token.
///
/// `@unchecked Sendable`: `closed`/`ended` are guarded by `lock`; the rest is immutable.
final class IsolatedCursor: BatchCursor, @unchecked Sendable {
    let child: PluginChildProcess
    let id: UInt32
    let timeout: Duration?
    let instance: IsolatedProviderInstance
    private let lock = NSLock()
    private var closed = false
    private var ended = false

    init(child: PluginChildProcess, id: UInt32, timeout: Duration?, instance: IsolatedProviderInstance) {
        self.child = child
        self.id = id
        self.timeout = timeout
        self.instance = instance
    }

    deinit { close() }

    func next(maxItems: Int) async throws -> [ProviderItem]? {
        if lock.withLock({ closed || ended }) { return nil }
        var w = WireWriter()
        w.u32(id)
        w.u32(max(1, maxItems))
        let answer = try await child.call(.next, body: w.data, timeout: timeout)
        if answer.op == .end {
            lock.withLock { ended = true }
            return nil
        }
        var r = WireReader(answer.body)
        let child = self.child
        let (items, slot) = try RegionBlob.get(&r, region: child.region) { try IsolatedBatchCodec.decode($0) }
        if let slot { child.post(.release, body: IsolatedProviderInstance.id(UInt32(slot))) }
        return items
    }

    func close() {
        let first = lock.withLock {
            defer { closed = true }
            return !closed
        }
        if first { child.post(.closeCursor, body: IsolatedProviderInstance.id(id)) }
    }
}
