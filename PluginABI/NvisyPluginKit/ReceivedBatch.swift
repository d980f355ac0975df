import Foundation
import NvisyPluginABI

/// The plugin's own copy of a batch the host passed in (inputs are borrowed for the call
/// only), made by `nvisy_batch_copy`: one block with the `nvisy_item` array followed by
/// everything it points to. ``Item``s view it by index.
///
/// `@unchecked Sendable`: the block is written once, in `init`, and only read afterwards;
/// `block` owns the memory and frees it when the last item viewing it goes away.
final class ReceivedBatch: @unchecked Sendable {
    let items: UnsafePointer<nvisy_item>
    let count: Int
    private let base: UnsafeRawPointer
    private let block: Data

    /// nil when the copy could not be allocated. `count` must not be 0.
    init?(copying src: UnsafePointer<nvisy_item>, count: Int) {
        var size = 0
        guard let copy = nvisy_batch_copy(src, count, &size) else { return nil }
        items = UnsafePointer(copy)
        self.count = count
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
}
