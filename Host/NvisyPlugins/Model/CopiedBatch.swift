import Foundation
import NvisyPluginABI

/// A host-owned copy of a batch a plugin returned (the ABI's "the host copies what it
/// keeps"), made by `nvisy_batch_copy`: one block with the `nvisy_item` array followed by
/// everything it points to. ``ProviderItem``s view it by index.
///
/// `@unchecked Sendable`: the block is written once, in `init`, and only read afterwards;
/// `block` owns the memory and frees it when the last item viewing it goes away.
final class CopiedBatch: @unchecked Sendable {
    let items: UnsafePointer<nvisy_item>
    let count: Int
    private let base: UnsafeRawPointer
    private let block: Data

    /// nil when the copy could not be allocated. `batch` must not be empty.
    init?(copying batch: nvisy_batch) {
        guard let src = batch.items, batch.count > 0 else { return nil }
        var size = 0
        guard let copy = nvisy_batch_copy(src, batch.count, &size) else { return nil }
        items = UnsafePointer(copy)
        count = batch.count
        base = UnsafeRawPointer(copy)
        block = Data(bytesNoCopy: UnsafeMutableRawPointer(copy), count: size, deallocator: .free)
    }

    /// The bytes `b` points to (inside the block), as a slice of it.
    func data(_ b: nvisy_bytes) -> Data {
        guard let p = b.data, b.len > 0 else { return Data() }
        let offset = UnsafeRawPointer(p) - base
        return block[offset..<(offset + b.len)]
    }

    func vector(_ c: nvisy_item) -> [Float]? {
        guard let v = c.vector, c.vector_len > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: v, count: c.vector_len))
    }

    /// The batch's items, each a view into one copy; nil when the copy could not be allocated.
    static func items(_ batch: nvisy_batch) -> [ProviderItem]? {
        guard batch.items != nil, batch.count > 0 else { return [] }
        guard let copy = CopiedBatch(copying: batch) else { return nil }
        return (0..<copy.count).map { ProviderItem(copy, $0) }
    }
}
