import Foundation
import NvisyCore
import NvisyPluginABI

/// Lays out host items as `nvisy_item`s in memory that stays put for the call (the C
/// helper `nvisy_arena`, which NvisyPluginKit's sending side shares).
///
/// Items that are views of a batch copied from a plugin (``CopiedBatch``) pass on their
/// `nvisy_item` as is: it already points into host-owned memory, which the caller's item
/// array keeps alive for the call. Only items the host made itself are copied in.
///
/// `@unchecked Sendable`: used by one call at a time (an instance's calls run in order).
final class NativeBatchArena: @unchecked Sendable {
    private var arena = nvisy_arena()
    private(set) var batch = nvisy_batch(items: nil, count: 0)
    /// The items of the last fill when some are views: a transform's input must stay valid
    /// until its cursor closes, and this arena lives as long as that cursor.
    private var kept: [ProviderItem] = []

    deinit { nvisy_arena_free(&arena) }

    /// Drops the items of the last fill (after a `write`, which borrows them for the call only).
    func release() { kept = [] }

    /// The batch for `source`; nil when memory for it could not be allocated.
    func fill(_ source: [ProviderItem]) -> nvisy_batch? {
        var total = 0
        var views = false
        // Each item's fields, read once (an item with parsed metadata encodes it per read).
        var owned = [ProviderItem.Fields?](repeating: nil, count: source.count)
        for (i, item) in source.enumerated() {
            if case .copied = item.storage { views = true; continue }
            let f = item.fields  // owned, parsed, or a Python batch's item (copied in like an owned one)
            total += f.metadata.count + f.payload.count + f.resumeToken.count
            if let v = f.vector { total += v.count * 4 + 4 }
            owned[i] = f
        }
        kept = views ? source : []
        guard nvisy_arena_reset(&arena, source.count, total) == 0, let out = arena.items else { return nil }
        for i in source.indices {
            switch source[i].storage {
            case .copied(let b, let k):
                out[i] = b.items[k]
            case .owned, .parsed, .python:
                let f = owned[i]!
                f.metadata.withNvisyBytes { m in
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
        batch = nvisy_batch(items: UnsafePointer(out), count: source.count)
        return batch
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

/// The outcome of one C call, before it becomes a Swift error.
struct NativeOutcome: Sendable {
    var code: Int32
    var retry: Int32
    var message: String?

    /// Takes ownership of the status message (frees it).
    init(_ status: nvisy_status) {
        code = status.code
        retry = status.retry
        if let m = status.message {
            message = String(cString: m)
            free(m)
        }
    }

    var isOK: Bool { code == Int32(NVISY_OK.rawValue) }
    var isEnd: Bool { code == Int32(NVISY_END.rawValue) }

    func error(_ what: String) -> NvisyError {
        let text = "\(what): \(message ?? "failed without a message")"
        switch retry {
        case Int32(NVISY_RETRY_TRANSIENT.rawValue): return NvisyError(.unavailable, text, retry: .transient)
        case Int32(NVISY_RETRY_INVALID_CONFIG.rawValue): return NvisyError(.invalidInput, text, retry: .permanent)
        case Int32(NVISY_RETRY_UNAUTHORIZED.rawValue): return NvisyError(.unauthorized, text, retry: .permanent)
        default: return NvisyError(.unavailable, text, retry: .permanent)
        }
    }
}
