import Foundation
import NvisyPluginABI

// The C side of the kit: boxes behind the ABI's void pointers, conversions between
// `Item` and `nvisy_item`, and the function pointers every provider descriptor uses.

/// Lays out items as `nvisy_item`s in memory that stays put until the next `fill` (the
/// ABI's "valid until the next call on this cursor" rule), in the C helper `nvisy_arena`
/// that the host's sending side shares.
///
/// Items that are views of a batch the host passed in (``ReceivedBatch``) pass on their
/// `nvisy_item` as is, pointing into the plugin's copy; the arena keeps those copies alive
/// until the next `fill`. Only items the provider made itself are copied in.
final class BatchArena {
    private var arena = nvisy_arena()
    /// The items of the last fill, which keep the memory of passed-on views alive.
    private var kept: [Item] = []

    deinit { nvisy_arena_free(&arena) }

    /// The batch for `source`; nil when memory for it could not be allocated.
    func fill(_ source: [Item]) -> nvisy_batch? {
        var total = 0
        var views = false
        for item in source {
            guard case .owned(let f) = item.storage else { views = true; continue }
            total += f.metadataJSON.count + f.payload.count + f.resumeToken.count
            if let v = f.vector { total += v.count * 4 + 4 }
        }
        kept = views ? source : []
        guard nvisy_arena_reset(&arena, source.count, total) == 0, let out = arena.items else { return nil }
        for i in source.indices {
            switch source[i].storage {
            case .copied(let b, let k):
                out[i] = b.items[k]
            case .owned(let f):
                f.metadataJSON.withNvisyBytes { m in
                    f.payload.withNvisyBytes { p in
                        f.resumeToken.withNvisyBytes { t in
                            if let v = f.vector {
                                v.withUnsafeBufferPointer { nvisy_arena_put(&arena, i, m, p, t, $0.baseAddress, $0.count, 1) }
                            } else {
                                nvisy_arena_put(&arena, i, m, p, t, nil, 0, 0)
                            }
                        }
                    }
                }
            }
        }
        return nvisy_batch(items: UnsafePointer(out), count: source.count)
    }
}

extension Data {
    init(_ b: nvisy_bytes) {
        if let p = b.data, b.len > 0 { self.init(bytes: p, count: b.len) } else { self.init() }
    }

    /// Runs `body` with these bytes as an `nvisy_bytes` (valid inside `body` only).
    func withNvisyBytes<R>(_ body: (nvisy_bytes) -> R) -> R {
        withUnsafeBytes { b in body(nvisy_bytes(data: b.baseAddress?.assumingMemoryBound(to: UInt8.self), len: b.count)) }
    }
}

/// The host's batch as items, each a view into one copy of it; nil when the copy could
/// not be allocated.
func items(from batch: UnsafePointer<nvisy_batch>?) -> [Item]? {
    guard let batch, let base = batch.pointee.items, batch.pointee.count > 0 else { return [] }
    guard let copy = ReceivedBatch(copying: base, count: batch.pointee.count) else { return nil }
    return (0..<copy.count).map { Item(copy, $0) }
}

// MARK: Boxes

final class ProviderBox {
    let type: any Provider.Type
    init(_ type: any Provider.Type) { self.type = type }

    func make(config: Data, credentials: Data) throws -> any Provider {
        try type._make(config: config, credentials: credentials)
    }
}

extension Provider {
    static func _make(config: Data, credentials: Data) throws -> any Provider {
        typealias P = Self
        let decoder = JSONDecoder()
        let c: P.Config
        let cr: P.Credentials
        do {
            c = try decoder.decode(P.Config.self, from: config.isEmpty ? Data("{}".utf8) : config)
        } catch let e as DecodingError {
            throw PluginError.invalidConfig("config: \(describe(e))")
        }
        do {
            cr = try decoder.decode(P.Credentials.self, from: credentials.isEmpty ? Data("{}".utf8) : credentials)
        } catch let e as DecodingError {
            throw PluginError.invalidConfig("credentials: \(describe(e))")
        }
        return try P(config: c, credentials: cr)
    }
}

final class InstanceBox {
    let provider: any Provider
    // The provider as each kind, cast once (dynamic casts are too slow per call).
    let source: (any SourceProvider)?
    let sink: (any SinkProvider)?
    let transformer: (any TransformProvider)?
    let embedder: (any EmbeddingProvider)?
    let completer: (any CompletionProvider)?
    /// The last embed/complete output: plugin-owned until the next call on the instance.
    private var output: UnsafeMutableRawPointer?
    init(_ provider: any Provider) {
        self.provider = provider
        source = provider as? any SourceProvider
        sink = provider as? any SinkProvider
        transformer = provider as? any TransformProvider
        embedder = provider as? any EmbeddingProvider
        completer = provider as? any CompletionProvider
    }
    deinit { output?.deallocate() }

    /// Keeps a copy of `bytes` until the next call; answers where it is.
    func keep(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawPointer {
        output?.deallocate()
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        if let base = bytes.baseAddress, bytes.count > 0 { p.copyMemory(from: base, byteCount: bytes.count) }
        output = p
        return UnsafeRawPointer(p)
    }
}

final class CursorBox {
    let cursor: any ItemCursor
    let context: CallContext
    let arena = BatchArena()
    init(_ cursor: any ItemCursor, _ context: CallContext) {
        self.cursor = cursor
        self.context = context
    }
}

func describe(_ e: DecodingError) -> String {
    func path(_ c: [CodingKey]) -> String { "/" + c.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/") }
    switch e {
    case .keyNotFound(let k, let ctx): return "missing \(path(ctx.codingPath + [k]))"
    case .typeMismatch(let t, let ctx): return "\(path(ctx.codingPath)) should be \(t)"
    case .valueNotFound(let t, let ctx): return "\(path(ctx.codingPath)) should be \(t), not null"
    case .dataCorrupted(let ctx): return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
    @unknown default: return "\(e)"
    }
}

// MARK: Status

func okStatus() -> nvisy_status { nvisy_status(code: Int32(NVISY_OK.rawValue), retry: 0, message: nil) }
func endStatus() -> nvisy_status { nvisy_status(code: Int32(NVISY_END.rawValue), retry: 0, message: nil) }

func errorStatus(_ error: any Error) -> nvisy_status {
    let kind: PluginError.Kind
    let message: String
    switch error {
    case let e as PluginError: kind = e.kind; message = e.message
    case let e as DecodingError: kind = .invalidConfig; message = describe(e)
    default: kind = .permanent; message = String(describing: error)
    }
    return nvisy_status(code: Int32(NVISY_ERROR.rawValue), retry: kind.rawValue, message: Host.hostString(message))
}

func errorStatus(_ message: String) -> nvisy_status { errorStatus(PluginError.permanent(message)) }

@inline(__always) func instance(_ p: UnsafeMutableRawPointer?) -> InstanceBox? {
    p.map { Unmanaged<InstanceBox>.fromOpaque($0).takeUnretainedValue() }
}

// MARK: The function pointers

enum Thunks {
    static let create: @convention(c) (UnsafePointer<nvisy_provider>?, nvisy_bytes, nvisy_bytes,
                                       UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> nvisy_status = { p, config, credentials, out in
        guard let p, let ctx = p.pointee.provider_context, let out else { return errorStatus("create: null argument") }
        let box = Unmanaged<ProviderBox>.fromOpaque(ctx).takeUnretainedValue()
        do {
            let provider = try box.make(config: Data(config), credentials: Data(credentials))
            out.pointee = Unmanaged.passRetained(InstanceBox(provider)).toOpaque()
            return okStatus()
        } catch { return errorStatus(error) }
    }

    static let check: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> nvisy_status = { i, ctx in
        guard let box = instance(i) else { return errorStatus("check: null instance") }
        do { try box.provider.check(CallContext(ctx)); return okStatus() } catch { return errorStatus(error) }
    }

    static let read: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, nvisy_bytes,
                                     UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> nvisy_status = { i, ctx, token, out in
        guard let box = instance(i), let out, let source = box.source else {
            return errorStatus("read: not a source instance")
        }
        do {
            let context = CallContext(ctx)
            let cursor = try source.read(after: token.len == 0 ? nil : Data(token), context: context)
            out.pointee = Unmanaged.passRetained(CursorBox(cursor, context)).toOpaque()
            return okStatus()
        } catch { return errorStatus(error) }
    }

    static let transform: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<nvisy_batch>?,
                                          UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> nvisy_status = { i, ctx, input, out in
        guard let box = instance(i), let out, let t = box.transformer else {
            return errorStatus("transform: not a transform instance")
        }
        do {
            let context = CallContext(ctx)
            guard let inputs = items(from: input) else { return errorStatus(PluginError.transient("transform: out of memory copying the input batch")) }
            let cursor = try t.transform(inputs, context: context)
            out.pointee = Unmanaged.passRetained(CursorBox(cursor, context)).toOpaque()
            return okStatus()
        } catch { return errorStatus(error) }
    }

    static let next: @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeMutablePointer<nvisy_batch>?) -> nvisy_status = { c, max, out in
        guard let c, let out else { return errorStatus("next: null cursor") }
        let box = Unmanaged<CursorBox>.fromOpaque(c).takeUnretainedValue()
        do {
            let batch = try box.cursor.next(max: Swift.max(1, max), context: box.context)
            if batch.isEmpty {
                out.pointee = nvisy_batch(items: nil, count: 0)
                return endStatus()
            }
            guard let filled = box.arena.fill(batch) else {
                out.pointee = nvisy_batch(items: nil, count: 0)
                return errorStatus(PluginError.transient("next: out of memory laying out \(batch.count) items"))
            }
            out.pointee = filled
            return okStatus()
        } catch {
            out.pointee = nvisy_batch(items: nil, count: 0)
            return errorStatus(error)
        }
    }

    static let closeCursor: @convention(c) (UnsafeMutableRawPointer?) -> Void = { c in
        if let c { Unmanaged<CursorBox>.fromOpaque(c).release() }
    }

    static let write: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<nvisy_batch>?) -> nvisy_status = { i, ctx, batch in
        guard let box = instance(i), let sink = box.sink else {
            return errorStatus("write: not a sink instance")
        }
        guard let inputs = items(from: batch) else { return errorStatus(PluginError.transient("write: out of memory copying the batch")) }
        do { try sink.write(inputs, context: CallContext(ctx)); return okStatus() } catch { return errorStatus(error) }
    }

    static let embed: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<nvisy_bytes>?, Int,
                                      UnsafeMutablePointer<nvisy_vectors>?) -> nvisy_status = { i, ctx, texts, count, out in
        guard let box = instance(i), let out, let e = box.embedder else {
            return errorStatus("embed: not an embedding instance")
        }
        var strings: [String] = []
        if let texts {
            for k in 0..<count { strings.append(String(decoding: Data(texts[k]), as: UTF8.self)) }
        }
        do {
            let vectors = try e.embed(strings, context: CallContext(ctx))
            guard vectors.count == strings.count else {
                return errorStatus("embed returned \(vectors.count) vectors for \(strings.count) texts")
            }
            let dims = vectors.first?.count ?? 0
            guard vectors.allSatisfy({ $0.count == dims }) else { return errorStatus("embed returned vectors of different dimensions") }
            let flat = vectors.flatMap { $0 }
            let kept = flat.withUnsafeBytes { box.keep($0) }
            out.pointee = nvisy_vectors(values: kept.assumingMemoryBound(to: Float.self), count: vectors.count, dimensions: dims)
            return okStatus()
        } catch { return errorStatus(error) }
    }

    static let complete: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, nvisy_bytes, nvisy_token_fn?,
                                         UnsafeMutableRawPointer?, UnsafeMutablePointer<nvisy_bytes>?) -> nvisy_status = { i, ctx, request, onToken, user, out in
        guard let box = instance(i), let out, let c = box.completer else {
            return errorStatus("complete: not a completion instance")
        }
        do {
            let req = try JSON.parse(Data(request))
            let response = try c.complete(req, context: CallContext(ctx)) { token in
                guard let onToken else { return }
                var bytes = Array(token.utf8)
                bytes.withUnsafeMutableBufferPointer { b in
                    onToken(user, nvisy_bytes(data: UnsafePointer(b.baseAddress), len: b.count))
                }
            }
            let body = response.serialized()
            let kept = body.withUnsafeBytes { box.keep($0) }
            out.pointee = nvisy_bytes(data: kept.assumingMemoryBound(to: UInt8.self), len: body.count)
            return okStatus()
        } catch { return errorStatus(error) }
    }

    static let destroy: @convention(c) (UnsafeMutableRawPointer?) -> Void = { i in
        if let i { Unmanaged<InstanceBox>.fromOpaque(i).release() }
    }
}
