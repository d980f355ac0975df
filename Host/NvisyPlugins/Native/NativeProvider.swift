import Foundation
import NvisyCore
import NvisyPluginABI

/// A pointer into a plugin's descriptor table (valid for the life of the process:
/// plugins are never unloaded).
struct ProviderRef: @unchecked Sendable {
    let pointer: UnsafePointer<nvisy_provider>
    var p: nvisy_provider { pointer.pointee }
}

/// A plugin-owned pointer (an instance or a cursor).
struct RawRef: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer?
}

/// Makes instances of a provider from a dlopen'd Swift (or C) plugin.
struct NativeProviderFactory: ProviderFactory {
    let descriptor: ProviderDescriptor
    let provider: ProviderRef

    func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws
        -> any ProviderInstance
    {
        let configData = try JSONEncoder().encode(config)
        let credentialData = try JSONEncoder().encode(credentials)
        let runner = NativeCallRunner(label: descriptor.id, options: options)
        let provider = self.provider
        let id = descriptor.id
        guard let create = provider.p.create else { throw NvisyError.internal("\(id): the plugin has no create function") }
        let ctx = CallContextBox()
        let handle = try await runner.run("create", ctx: ctx) { () -> Result<RawRef, NvisyError> in
            var out: UnsafeMutableRawPointer? = nil
            let outcome = configData.withUnsafeBytes { c in
                credentialData.withUnsafeBytes { k in
                    NativeOutcome(create(provider.pointer,
                                         nvisy_bytes(data: c.baseAddress?.assumingMemoryBound(to: UInt8.self), len: c.count),
                                         nvisy_bytes(data: k.baseAddress?.assumingMemoryBound(to: UInt8.self), len: k.count),
                                         &out))
                }
            }
            guard outcome.isOK else { return .failure(outcome.error("\(id): create")) }
            return .success(RawRef(raw: out))
        }
        return NativeProviderInstance(descriptor: descriptor, provider: provider, handle: handle, runner: runner)
    }
}

/// One instance inside a plugin; every kind's handle protocol is implemented and
/// the registry hands it out only as the kind its descriptor says.
final class NativeProviderInstance: SourceInstance, SinkInstance, TransformInstance, EmbeddingInstance,
    CompletionInstance, @unchecked Sendable
{
    let descriptor: ProviderDescriptor
    let provider: ProviderRef
    let handle: RawRef
    let runner: NativeCallRunner
    private let ctx = CallContextBox()
    private let arena = NativeBatchArena()
    private let lock = NSLock()
    private var closed = false

    init(descriptor: ProviderDescriptor, provider: ProviderRef, handle: RawRef, runner: NativeCallRunner) {
        self.descriptor = descriptor
        self.provider = provider
        self.handle = handle
        self.runner = runner
    }

    deinit {
        if !closed, let destroy = provider.p.destroy {
            let h = handle
            runner.post { destroy(h.raw) }
        }
    }

    private func missing(_ what: String) -> NvisyError {
        NvisyError.invalidInput("\(descriptor.id) is a \(descriptor.kinds.map(\.rawValue).joined(separator: "/")) provider; it cannot \(what)")
    }

    private func ensureOpen() throws {
        if lock.withLock({ closed }) { throw NvisyError.internal("\(descriptor.id): the instance is closed") }
    }

    func check() async throws {
        try ensureOpen()
        guard let fn = provider.p.check else { return }
        try await runner.run("check", ctx: ctx) { [self] in
            let o = NativeOutcome(fn(handle.raw, ctx.pointer))
            return o.isOK ? .success(()) : .failure(o.error("\(descriptor.id): check"))
        }
    }

    func close() async {
        let first = lock.withLock {
            defer { closed = true }
            return !closed
        }
        guard first, let destroy = provider.p.destroy else { return }
        let h = handle
        runner.post { destroy(h.raw) }
    }

    func openCursor(after resumeToken: Data?) async throws -> any BatchCursor {
        try ensureOpen()
        guard let read = provider.p.read else { throw missing("read") }
        let cursorCtx = CallContextBox()
        let token = resumeToken ?? Data()
        let raw = try await runner.run("read", ctx: cursorCtx) { [self] () -> Result<RawRef, NvisyError> in
            var out: UnsafeMutableRawPointer? = nil
            let o = token.withUnsafeBytes { t in
                NativeOutcome(read(handle.raw, cursorCtx.pointer,
                                   nvisy_bytes(data: t.baseAddress?.assumingMemoryBound(to: UInt8.self), len: t.count), &out))
            }
            return o.isOK ? .success(RawRef(raw: out)) : .failure(o.error("\(descriptor.id): read"))
        }
        return NativeCursor(instance: self, cursor: raw, ctx: cursorCtx, input: nil)
    }

    func write(_ items: [ProviderItem]) async throws {
        try ensureOpen()
        guard let fn = provider.p.write else { throw missing("write") }
        try await runner.run("write", ctx: ctx) { [self] () -> Result<Void, NvisyError> in
            defer { arena.release() }
            guard var batch = arena.fill(items) else {
                return .failure(NvisyError(.unavailable, "\(descriptor.id): write: out of memory laying out \(items.count) items", retry: .transient))
            }
            let o = NativeOutcome(fn(handle.raw, ctx.pointer, &batch))
            return o.isOK ? .success(()) : .failure(o.error("\(descriptor.id): write"))
        }
    }

    func transform(_ items: [ProviderItem]) async throws -> any BatchCursor {
        try ensureOpen()
        guard let fn = provider.p.transform else { throw missing("transform") }
        let cursorCtx = CallContextBox()
        let input = NativeBatchArena()  // kept alive by the cursor, as the ABI asks
        let raw = try await runner.run("transform", ctx: cursorCtx) { [self] () -> Result<RawRef, NvisyError> in
            guard var batch = input.fill(items) else {
                return .failure(NvisyError(.unavailable, "\(descriptor.id): transform: out of memory laying out \(items.count) items", retry: .transient))
            }
            var out: UnsafeMutableRawPointer? = nil
            let o = NativeOutcome(fn(handle.raw, cursorCtx.pointer, &batch, &out))
            return o.isOK ? .success(RawRef(raw: out)) : .failure(o.error("\(descriptor.id): transform"))
        }
        return NativeCursor(instance: self, cursor: raw, ctx: cursorCtx, input: input)
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        try ensureOpen()
        guard let fn = provider.p.embed else { throw missing("embed") }
        return try await runner.run("embed", ctx: ctx) { [self] () -> Result<[[Float]], NvisyError> in
            var blob = Data()
            var ranges: [Range<Int>] = []
            for t in texts {
                let start = blob.count
                blob.append(contentsOf: t.utf8)
                ranges.append(start..<blob.count)
            }
            var out = nvisy_vectors(values: nil, count: 0, dimensions: 0)
            let o = blob.withUnsafeBytes { b -> NativeOutcome in
                let base = b.baseAddress?.assumingMemoryBound(to: UInt8.self)
                let args = ranges.map { r in nvisy_bytes(data: base.map { $0 + r.lowerBound }, len: r.count) }
                return args.withUnsafeBufferPointer { a in NativeOutcome(fn(handle.raw, ctx.pointer, a.baseAddress, a.count, &out)) }
            }
            guard o.isOK else { return .failure(o.error("\(descriptor.id): embed")) }
            guard out.count == texts.count else {
                return .failure(NvisyError(.unavailable, "\(descriptor.id): embed returned \(out.count) vectors for \(texts.count) texts", retry: .permanent))
            }
            if out.count == 0 { return .success([]) }
            guard let values = out.values else {
                return .failure(NvisyError(.unavailable, "\(descriptor.id): embed returned no vector data", retry: .permanent))
            }
            var vectors: [[Float]] = []
            vectors.reserveCapacity(out.count)
            for i in 0..<out.count {
                vectors.append(Array(UnsafeBufferPointer(start: values + i * out.dimensions, count: out.dimensions)))
            }
            return .success(vectors)
        }
    }

    func complete(_ request: JSONValue, onToken: @escaping @Sendable (String) -> Void) async throws -> JSONValue {
        try ensureOpen()
        guard let fn = provider.p.complete else { throw missing("complete") }
        let body = try JSONEncoder().encode(request)
        return try await runner.run("complete", ctx: ctx) { [self] () -> Result<JSONValue, NvisyError> in
            let sink = Unmanaged.passRetained(TokenSink(onToken))
            defer { sink.release() }
            var response = nvisy_bytes(data: nil, len: 0)
            let o = body.withUnsafeBytes { b in
                NativeOutcome(fn(handle.raw, ctx.pointer,
                                 nvisy_bytes(data: b.baseAddress?.assumingMemoryBound(to: UInt8.self), len: b.count),
                                 { user, token in
                                     guard let user else { return }
                                     let s = Unmanaged<TokenSink>.fromOpaque(user).takeUnretainedValue()
                                     s.onToken(String(decoding: Data(token), as: UTF8.self))
                                 },
                                 sink.toOpaque(), &response))
            }
            guard o.isOK else { return .failure(o.error("\(descriptor.id): complete")) }
            let data = Data(response)
            if data.isEmpty { return .success([:]) }
            do {
                return .success(try JSONDecoder().decode(JSONValue.self, from: data))
            } catch {
                return .failure(NvisyError(.unavailable, "\(descriptor.id): complete returned a response that is not JSON", retry: .permanent))
            }
        }
    }
}

private final class TokenSink {
    let onToken: @Sendable (String) -> Void
    init(_ onToken: @escaping @Sendable (String) -> Void) { self.onToken = onToken }
}
