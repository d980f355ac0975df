import Foundation
import NvisyCore
import NvisyPluginABI

/// The binary form of a batch of items, texts or vectors in a blob (a shared-memory slot or
/// inline in a frame): `u32 count | count × (u32 metadata, u32 payload, u32 token, u32 vector
/// length or 0xFFFFFFFF) | every vector's floats | every item's metadata, payload, token bytes`.
/// Vectors come right after the 4-byte fields so they stay 4-byte aligned.
enum IsolatedBatchCodec {
    private static let noVector = UInt32.max

    /// Calls `body` with an item's metadata, payload, token and vector as raw memory — for an
    /// item that views a copied batch, straight from the batch (no `Data` per field).
    @inline(__always)
    static func withFields<R>(_ item: ProviderItem, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer,
                                                               UnsafeRawBufferPointer, UnsafeBufferPointer<Float>?) -> R) -> R {
        switch item.storage {
        case .copied(let batch, let i):
            let it = batch.items[i]
            func raw(_ b: nvisy_bytes) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: b.data, count: b.data == nil ? 0 : b.len) }
            let vector = it.vector.map { UnsafeBufferPointer(start: $0, count: it.vector_len) }
            return withExtendedLifetime(batch) { body(raw(it.metadata), raw(it.payload), raw(it.resume_token), vector) }
        default:  // owned, or another runtime's view: its fields as Data
            let f = item.fields
            return f.metadata.withUnsafeBytes { m in
                f.payload.withUnsafeBytes { p in
                    f.resumeToken.withUnsafeBytes { t in
                        if let v = f.vector { return v.withUnsafeBufferPointer { body(m, p, t, $0) } }
                        return body(m, p, t, nil)
                    }
                }
            }
        }
    }

    static func size(of items: [ProviderItem]) -> Int {
        var n = 4 + 16 * items.count
        for item in items {
            n += withFields(item) { m, p, t, v in m.count + p.count + t.count + (v?.count ?? 0) * 4 }
        }
        return n
    }

    /// Writes `items` into `out`, which is exactly ``size(of:)`` bytes.
    static func encode(_ items: [ProviderItem], into out: UnsafeMutableRawBufferPointer) {
        let base = out.baseAddress!
        var at = 4 + 16 * items.count
        var bytesAt = at
        // Vectors first (4-byte aligned after the fixed fields), then every item's bytes.
        for item in items {
            bytesAt += withFields(item) { _, _, _, v in (v?.count ?? 0) * 4 }
        }
        out.storeBytes(of: UInt32(items.count).littleEndian, as: UInt32.self)
        for (k, item) in items.enumerated() {
            withFields(item) { m, p, t, v in
                let h = 4 + 16 * k
                out.storeBytes(of: UInt32(m.count).littleEndian, toByteOffset: h, as: UInt32.self)
                out.storeBytes(of: UInt32(p.count).littleEndian, toByteOffset: h + 4, as: UInt32.self)
                out.storeBytes(of: UInt32(t.count).littleEndian, toByteOffset: h + 8, as: UInt32.self)
                out.storeBytes(of: (v.map { UInt32($0.count) } ?? noVector).littleEndian, toByteOffset: h + 12, as: UInt32.self)
                if let v, v.count > 0 {
                    (base + at).copyMemory(from: v.baseAddress!, byteCount: v.count * 4)
                    at += v.count * 4
                }
                if m.count > 0 { (base + bytesAt).copyMemory(from: m.baseAddress!, byteCount: m.count) }
                bytesAt += m.count
                if p.count > 0 { (base + bytesAt).copyMemory(from: p.baseAddress!, byteCount: p.count) }
                bytesAt += p.count
                if t.count > 0 { (base + bytesAt).copyMemory(from: t.baseAddress!, byteCount: t.count) }
                bytesAt += t.count
            }
        }
    }

    /// The items in `bytes`, copied into one host-owned block (the items view it). Lengths are
    /// checked against the blob: a malformed batch is an error, never a read out of bounds.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [ProviderItem] {
        func bad(_ why: String) -> NvisyError { NvisyError(.internal, "plugin batch: \(why)", retry: .transient) }
        guard bytes.count >= 4, let base = bytes.baseAddress else { throw bad("shorter than its count") }
        let count = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        guard count > 0 else { return [] }
        guard count <= (bytes.count - 4) / 16 else { throw bad("\(count) items do not fit in \(bytes.count) bytes") }
        func field(_ i: Int, _ f: Int) -> Int {
            Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 + 16 * i + 4 * f, as: UInt32.self)))
        }
        var at = 4 + 16 * count
        var items = [nvisy_item](repeating: nvisy_item(), count: count)
        for i in 0..<count {
            let v = field(i, 3)
            guard v != Int(noVector) else { continue }
            guard v <= (bytes.count - at) / 4 else { throw bad("item \(i)'s vector runs past the end") }
            items[i].vector = (base + at).assumingMemoryBound(to: Float.self)
            items[i].vector_len = v
            at += v * 4
        }
        func span(_ n: Int, _ i: Int) throws -> nvisy_bytes {
            guard n <= bytes.count - at else { throw bad("item \(i)'s bytes run past the end") }
            defer { at += n }
            return nvisy_bytes(data: n == 0 ? nil : (base + at).assumingMemoryBound(to: UInt8.self), len: n)
        }
        for i in 0..<count {
            items[i].metadata = try span(field(i, 0), i)
            items[i].payload = try span(field(i, 1), i)
            items[i].resume_token = try span(field(i, 2), i)
        }
        let copied = items.withUnsafeBufferPointer { CopiedBatch.items(nvisy_batch(items: $0.baseAddress, count: count)) }
        guard let copied else { throw NvisyError(.unavailable, "out of memory copying a batch of \(count) items", retry: .transient) }
        return copied
    }

    // MARK: Texts and vectors (embed)

    static func size(of texts: [String]) -> Int { 4 + 4 * texts.count + texts.reduce(0) { $0 + $1.utf8.count } }

    static func encode(_ texts: [String], into out: UnsafeMutableRawBufferPointer) {
        out.storeBytes(of: UInt32(texts.count).littleEndian, as: UInt32.self)
        var at = 4 + 4 * texts.count
        for (i, t) in texts.enumerated() {
            let utf8 = Array(t.utf8)
            out.storeBytes(of: UInt32(utf8.count).littleEndian, toByteOffset: 4 + 4 * i, as: UInt32.self)
            utf8.withUnsafeBytes { b in if b.count > 0 { (out.baseAddress! + at).copyMemory(from: b.baseAddress!, byteCount: b.count) } }
            at += utf8.count
        }
    }

    static func decodeTexts(_ bytes: UnsafeRawBufferPointer) throws -> [String] {
        let bad = NvisyError(.internal, "plugin texts: malformed", retry: .transient)
        guard bytes.count >= 4 else { throw bad }
        let count = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        guard count <= (bytes.count - 4) / 4 else { throw bad }
        var at = 4 + 4 * count
        var out: [String] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let n = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 + 4 * i, as: UInt32.self)))
            guard n <= bytes.count - at else { throw bad }
            out.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]), as: UTF8.self))
            at += n
        }
        return out
    }

    static func size(of vectors: [[Float]]) -> Int { 8 + vectors.reduce(0) { $0 + $1.count * 4 } }

    /// `u32 count | u32 dimensions | floats`; every vector must have the same length.
    static func encode(_ vectors: [[Float]], into out: UnsafeMutableRawBufferPointer) {
        out.storeBytes(of: UInt32(vectors.count).littleEndian, as: UInt32.self)
        out.storeBytes(of: UInt32(vectors.first?.count ?? 0).littleEndian, toByteOffset: 4, as: UInt32.self)
        var at = 8
        for v in vectors {
            v.withUnsafeBytes { b in if b.count > 0 { (out.baseAddress! + at).copyMemory(from: b.baseAddress!, byteCount: b.count) } }
            at += v.count * 4
        }
    }

    static func decodeVectors(_ bytes: UnsafeRawBufferPointer) throws -> [[Float]] {
        let bad = NvisyError(.internal, "plugin vectors: malformed", retry: .transient)
        guard bytes.count >= 8 else { throw bad }
        let count = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        let dims = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard count.multipliedReportingOverflow(by: dims * 4).partialValue <= bytes.count - 8 else { throw bad }
        return (0..<count).map { i in
            (0..<dims).map { d in Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 + (i * dims + d) * 4, as: UInt32.self))) }
        }
    }
}
