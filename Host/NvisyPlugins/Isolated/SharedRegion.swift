import CNvisyIsolation
import Foundation
import NvisyCore

#if canImport(Glibc)
import Glibc
#endif

/// The shared memory between the host and one plugin-host child: a memfd mapped by both,
/// cut into fixed-size slots. The host fills the first half's slots (batches to write, texts
/// to embed), the child the second half's (batches read, vectors). Whoever fills a slot owns
/// it until the reader is done: the host frees its slots when the call's answer arrives, the
/// child frees its own when the host sends `release`.
///
/// `@unchecked Sendable`: the mapping is fixed for the region's life; the free list is
/// guarded by `lock`; a slot's bytes are only touched by its current owner.
final class SharedRegion: @unchecked Sendable {
    static let slotSize = 1 << 20
    static let slotsPerSide = 16
    static let size = slotSize * slotsPerSide * 2
    /// Bodies at least this big go through a slot when one is free; smaller ones inline.
    static let inlineLimit = 4096

    enum Side { case host, child }

    let fd: Int32
    let base: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var free: [Int]

    /// A new region (host side).
    convenience init() throws {
        let fd = nvisy_memfd("nvisy-plugin", SharedRegion.size)
        guard fd >= 0 else {
            throw NvisyError(.unavailable, "memfd_create failed: \(String(cString: strerror(errno)))", retry: .transient)
        }
        try self.init(fd: fd, side: .host)
    }

    /// Maps an existing region (`fd`, the child's fd 4) as `side`.
    init(fd: Int32, side: Side) throws {
        guard let p = mmap(nil, SharedRegion.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw NvisyError(.unavailable, "mmap of the plugin shared memory failed: \(String(cString: strerror(errno)))", retry: .transient)
        }
        self.fd = fd
        self.base = p
        let first = side == .host ? 0 : SharedRegion.slotsPerSide
        self.free = Array((first..<(first + SharedRegion.slotsPerSide)).reversed())
    }

    deinit {
        munmap(base, SharedRegion.size)
        close(fd)
    }

    /// A free slot of this side, or nil when all are in use (then the caller sends inline).
    func acquire() -> Int? { lock.withLock { free.popLast() } }

    func release(_ slot: Int) { lock.withLock { free.append(slot) } }

    func pointer(_ slot: Int) -> UnsafeMutableRawPointer { base + slot * SharedRegion.slotSize }

    /// The bytes of `slot` from its start, checked against the slot's bounds.
    func bytes(slot: Int, count: Int) throws -> UnsafeRawBufferPointer {
        guard slot >= 0, slot < SharedRegion.slotsPerSide * 2, count >= 0, count <= SharedRegion.slotSize else {
            throw NvisyError(.internal, "plugin shared memory: slot \(slot) with \(count) bytes is out of bounds", retry: .transient)
        }
        return UnsafeRawBufferPointer(start: pointer(slot), count: count)
    }
}

/// A body too big for the socket travels in a slot: the frame carries `u8 1 | u32 slot | u32 length`;
/// otherwise `u8 0 | pad | u32 length | bytes` inline.
enum RegionBlob {
    /// Refuses a blob that cannot cross at all (bigger than a slot and than a frame may be).
    static func check(_ size: Int, _ what: String) throws {
        guard size <= IsolationFrame.maxBody - 64 else {
            throw NvisyError(.invalidInput, "\(what) of \(size) bytes is more than the \(IsolationFrame.maxBody >> 20) MiB one call to a plugin process carries; use smaller batches",
                             retry: .permanent)
        }
    }

    /// Writes a blob of `size` bytes (filled by `fill`) to `w`: through a free slot when it is big
    /// enough to be worth it and fits, else inline. Answers the slot used, if any.
    static func put(_ w: inout WireWriter, region: SharedRegion, size: Int,
                    fill: (UnsafeMutableRawBufferPointer) -> Void) -> Int? {
        if size >= SharedRegion.inlineLimit, size <= SharedRegion.slotSize, let slot = region.acquire() {
            fill(UnsafeMutableRawBufferPointer(start: region.pointer(slot), count: size))
            w.u8(1); w.u8(0); w.u8(0); w.u8(0)
            w.u32(slot)
            w.u32(size)
            return slot
        }
        w.u8(0); w.u8(0); w.u8(0); w.u8(0)
        w.u32(0)
        w.u32(size)
        w.align4()
        let start = w.data.count
        w.data.append(Data(count: size))
        w.data.withUnsafeMutableBytes { b in fill(UnsafeMutableRawBufferPointer(rebasing: b[start..<(start + size)])) }
        return nil
    }

    /// Reads a blob written by ``put`` and hands its bytes to `body` (valid only inside it).
    /// Answers body's result and the slot it came from, if any (which the reader must give back).
    static func get<T>(_ r: inout WireReader, region: SharedRegion,
                       _ body: (UnsafeRawBufferPointer) throws -> T) throws -> (T, Int?) {
        let inSlot = try r.u8()
        _ = try r.u8(); _ = try r.u8(); _ = try r.u8()
        let slot = try r.int()
        let size = try r.int()
        if inSlot == 1 {
            let bytes = try region.bytes(slot: slot, count: size)
            return (try body(bytes), slot)
        }
        try r.align4()
        let data = r.rest()
        guard data.count >= size else {
            throw NvisyError(.internal, "plugin socket: an inline blob is shorter than its length", retry: .transient)
        }
        return (try data.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<size])) }, nil)
    }
}
