import Foundation
import NvisyCore
import NvisyPluginABI

/// Lays out host items as `nvisy_item`s in memory that stays put for the call.
///
/// Items that are views of a batch copied from a plugin (``CopiedBatch``) pass on their
/// `nvisy_item` as is: it already points into host-owned memory, which the caller's item
/// array keeps alive for the call. Only items the host made itself are copied in.
final class NativeBatchArena: @unchecked Sendable {
    private var bytes: UnsafeMutableRawPointer?
    private var byteCapacity = 0
    private var items: UnsafeMutablePointer<nvisy_item>?
    private var itemCapacity = 0
    private(set) var batch = nvisy_batch(items: nil, count: 0)
    /// The items of the last fill when some are views: a transform's input must stay valid
    /// until its cursor closes, and this arena lives as long as that cursor.
    private var kept: [ProviderItem] = []

    deinit {
        bytes?.deallocate()
        items?.deallocate()
    }

    /// Drops the items of the last fill (after a `write`, which borrows them for the call only).
    func release() { kept = [] }

    @discardableResult
    func fill(_ source: [ProviderItem]) -> nvisy_batch {
        var total = 0
        var views = false
        for item in source {
            if case .copied = item.storage { views = true; continue }
            let f = item.fields  // owned, or a Python batch's item (copied in like an owned one)
            total += f.metadata.count + f.payload.count + f.resumeToken.count
            if let v = f.vector { total += v.count * 4 + 4 }
        }
        kept = views ? source : []
        if total > byteCapacity || bytes == nil {  // allocate even when every item is a view
            bytes?.deallocate()
            byteCapacity = max(total, byteCapacity * 2, 4096)
            bytes = UnsafeMutableRawPointer.allocate(byteCount: byteCapacity, alignment: 16)
        }
        if source.count > itemCapacity {
            items?.deallocate()
            itemCapacity = max(source.count, itemCapacity * 2, 16)
            items = UnsafeMutablePointer<nvisy_item>.allocate(capacity: itemCapacity)
        }
        guard let base = bytes, let out = items else { return nvisy_batch(items: nil, count: 0) }
        var offset = 0
        func put(_ data: Data) -> nvisy_bytes {
            let n = data.count
            if n == 0 { return nvisy_bytes(data: nil, len: 0) }
            let dst = base + offset
            data.withUnsafeBytes { src in dst.copyMemory(from: src.baseAddress!, byteCount: n) }
            offset += n
            return nvisy_bytes(data: UnsafePointer(dst.assumingMemoryBound(to: UInt8.self)), len: n)
        }
        for i in source.indices {
            switch source[i].storage {
            case .copied(let b, let k):
                (out + i).initialize(to: b.items[k])
            case .owned, .python:  // a Python batch's items cross as their fields
                let f = source[i].fields
                var c = nvisy_item()
                c.metadata = put(f.metadata)
                c.payload = put(f.payload)
                c.resume_token = put(f.resumeToken)
                if let v = f.vector {
                    offset = (offset + 3) & ~3
                    let dst = (base + offset).bindMemory(to: Float.self, capacity: v.count)
                    v.withUnsafeBufferPointer { src in
                        if let s = src.baseAddress { dst.update(from: s, count: v.count) }
                    }
                    offset += v.count * 4
                    c.vector = UnsafePointer(dst)
                    c.vector_len = v.count
                }
                (out + i).initialize(to: c)
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
