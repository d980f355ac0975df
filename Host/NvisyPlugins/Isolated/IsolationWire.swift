import Foundation
import NvisyCore

#if canImport(Glibc)
import Glibc
#endif

/// What a frame on the plugin-host socket asks for or answers.
///
/// Requests go host → child, answers child → host; `release` is the host telling the
/// child it has copied a shared-memory slot the child filled, so the child may reuse it.
enum IsolationOp: UInt8, Sendable {
    case describe = 1, create, check, destroy, read, transform, next, closeCursor, write, embed, complete, release
    /// Answers: the call succeeded (body: the op's result), failed (body: an encoded error),
    /// a source ended, or a streamed completion token (the call goes on).
    case ok = 0x80, error, end, token
}

/// One frame on the socket between the host and a plugin-host child:
/// `u32 body length | u8 op | 3 bytes zero | u32 call id | body`, little-endian.
/// The 12-byte header keeps the body 4-byte aligned within the frame.
struct IsolationFrame: Sendable {
    static let headerSize = 12
    /// A frame larger than this is a broken peer, not data: big bodies go through shared memory.
    static let maxBody = 64 << 20

    var op: IsolationOp
    var call: UInt32
    var body: Data

    init(_ op: IsolationOp, call: UInt32, body: Data = Data()) {
        self.op = op
        self.call = call
        self.body = body
    }
}

/// Blocking frame writes on one end of a Unix socket pair (reads: ``FrameReader``).
struct FrameSocket: Sendable {
    let fd: Int32

    /// Sends one frame whole (header and body in one `sendmsg`). Throws when the peer is gone.
    func send(_ frame: IsolationFrame) throws { try send([frame]) }

    /// Sends frames whole and in order, in one `sendmsg`: a small frame that goes with another
    /// (a slot `release` with the next request) costs the peer no wake-up of its own.
    func send(_ frames: [IsolationFrame]) throws {
        var headers = [UInt8](repeating: 0, count: IsolationFrame.headerSize * frames.count)
        for (k, frame) in frames.enumerated() {
            let at = k * IsolationFrame.headerSize
            let length = UInt32(frame.body.count)
            withUnsafeBytes(of: length.littleEndian) { headers.replaceSubrange(at..<(at + 4), with: $0) }
            headers[at + 4] = frame.op.rawValue
            withUnsafeBytes(of: frame.call.littleEndian) { headers.replaceSubrange((at + 8)..<(at + 12), with: $0) }
        }
        try headers.withUnsafeMutableBytes { h in
            try withBodies(frames[...]) { bodies in
                var iov: [iovec] = []
                iov.reserveCapacity(2 * frames.count)
                for (k, b) in bodies.enumerated() {
                    iov.append(iovec(iov_base: h.baseAddress! + k * IsolationFrame.headerSize, iov_len: IsolationFrame.headerSize))
                    iov.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: b.baseAddress), iov_len: b.count))
                }
                try writeAll(&iov)
            }
        }
    }

    /// Calls `body` with every frame's body bytes (valid only inside it).
    private func withBodies<R>(_ frames: ArraySlice<IsolationFrame>, _ done: [UnsafeRawBufferPointer] = [],
                               _ body: ([UnsafeRawBufferPointer]) throws -> R) throws -> R {
        guard let first = frames.first else { return try body(done) }
        return try first.body.withUnsafeBytes { b in try withBodies(frames.dropFirst(), done + [b], body) }
    }

    private func writeAll(_ iov: inout [iovec]) throws {
        var index = 0
        while index < iov.count {
            if iov[index].iov_len == 0 { index += 1; continue }
            let n = iov.withUnsafeMutableBufferPointer { buf -> Int in
                var msg = msghdr()
                msg.msg_iov = buf.baseAddress! + index
                msg.msg_iovlen = buf.count - index
                return sendmsg(fd, &msg, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw NvisyError(.unavailable, "plugin socket send failed: \(String(cString: strerror(errno)))", retry: .transient)
            }
            var left = n
            while left > 0, index < iov.count {
                let take = min(left, iov[index].iov_len)
                iov[index].iov_base = iov[index].iov_base.map { $0 + take }
                iov[index].iov_len -= take
                left -= take
                if iov[index].iov_len == 0 { index += 1 }
            }
        }
    }
}

/// Reads frames from one end of the socket through a 64 KiB buffer, so that a small frame
/// (most answers) costs one `read` instead of two. Used by one thread only.
final class FrameReader {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 64 << 10)
    private var start = 0
    private var end = 0

    init(fd: Int32) { self.fd = fd }

    /// The next frame, or nil when the peer closed the socket.
    func receive() throws -> IsolationFrame? {
        guard try fill(IsolationFrame.headerSize) else { return nil }
        let (length, opByte, call) = buffer.withUnsafeBytes { b in
            (Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: start, as: UInt32.self))), b[start + 4],
             UInt32(littleEndian: b.loadUnaligned(fromByteOffset: start + 8, as: UInt32.self)))
        }
        guard let op = IsolationOp(rawValue: opByte), length <= IsolationFrame.maxBody else {
            throw NvisyError(.internal, "plugin socket: a malformed frame (op \(opByte), \(length) bytes)", retry: .transient)
        }
        start += IsolationFrame.headerSize
        var body = Data(count: length)
        var copied = 0
        // What is buffered first, then the rest straight into the body.
        let buffered = min(end - start, length)
        if buffered > 0 {
            body.withUnsafeMutableBytes { d in
                buffer.withUnsafeBytes { b in d.baseAddress!.copyMemory(from: b.baseAddress! + start, byteCount: buffered) }
            }
            start += buffered
            copied = buffered
        }
        if copied < length {
            let ok = try body.withUnsafeMutableBytes { d in
                try readExactly(UnsafeMutableRawBufferPointer(rebasing: d[copied..<length]))
            }
            if !ok { return nil }
        }
        return IsolationFrame(op, call: call, body: body)
    }

    /// Makes at least `n` bytes available from `start`; false at the end of the stream.
    private func fill(_ n: Int) throws -> Bool {
        if end - start >= n { return true }
        if start > 0 {
            let left = end - start
            if left > 0 { buffer.withUnsafeMutableBytes { b in b.baseAddress!.copyMemory(from: b.baseAddress! + start, byteCount: left) } }
            start = 0
            end = left
        }
        while end - start < n {
            let got = buffer.withUnsafeMutableBytes { b in Glibc.read(fd, b.baseAddress! + end, b.count - end) }
            if got == 0 { return false }
            if got < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return false }
                throw NvisyError(.unavailable, "plugin socket read failed: \(String(cString: strerror(errno)))", retry: .transient)
            }
            end += got
        }
        return true
    }

    /// Fills `buffer` straight from the socket; false on end of stream.
    private func readExactly(_ target: UnsafeMutableRawBufferPointer) throws -> Bool {
        var done = 0
        while done < target.count {
            let n = Glibc.read(fd, target.baseAddress! + done, target.count - done)
            if n == 0 { return false }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return false }
                throw NvisyError(.unavailable, "plugin socket read failed: \(String(cString: strerror(errno)))", retry: .transient)
            }
            done += n
        }
        return true
    }
}

/// Appends little-endian fields to a frame body.
struct WireWriter {
    var data = Data()

    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u32(_ v: Int) { u32(UInt32(truncatingIfNeeded: v)) }
    mutating func u64(_ v: Int) { withUnsafeBytes(of: UInt64(truncatingIfNeeded: v).littleEndian) { data.append(contentsOf: $0) } }
    /// Length-prefixed bytes.
    mutating func bytes(_ b: Data) { u32(b.count); data.append(b) }
    mutating func string(_ s: String) { bytes(Data(s.utf8)) }
    /// Zero bytes up to a multiple of 4, so what follows is 4-byte aligned within the body.
    mutating func align4() { while data.count % 4 != 0 { data.append(0) } }
}

/// Reads what ``WireWriter`` wrote; every read checks the length (a short body is an error, never a crash).
struct WireReader {
    let data: Data
    var offset: Int

    init(_ data: Data) {
        self.data = data
        self.offset = data.startIndex
    }

    private mutating func take(_ n: Int) throws -> Range<Int> {
        guard n >= 0, data.endIndex - offset >= n else {
            throw NvisyError(.internal, "plugin socket: a frame body is shorter than its fields", retry: .transient)
        }
        defer { offset += n }
        return offset..<(offset + n)
    }

    mutating func u8() throws -> UInt8 { data[try take(1).lowerBound] }
    mutating func u32() throws -> UInt32 {
        let r = try take(4)
        return data[r].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    }
    mutating func int() throws -> Int { Int(try u32()) }
    mutating func u64() throws -> Int {
        let r = try take(8)
        return Int(truncatingIfNeeded: data[r].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
    }
    mutating func bytes() throws -> Data { Data(data[try take(try int())]) }
    mutating func string() throws -> String { String(decoding: try bytes(), as: UTF8.self) }
    mutating func align4() throws { while (offset - data.startIndex) % 4 != 0 { _ = try take(1) } }
    /// The rest of the body.
    mutating func rest() -> Data {
        defer { offset = data.endIndex }
        return data[offset..<data.endIndex]
    }
}

extension NvisyError {
    /// The error as a frame body (kind, retry class, message).
    var wire: Data {
        var w = WireWriter()
        w.string(kind.rawValue)
        w.string(retry.rawValue)
        w.string(message)
        return w.data
    }

    /// An error read back from a frame body; a body that does not parse is itself reported.
    static func fromWire(_ body: Data) -> NvisyError {
        var r = WireReader(body)
        guard let kind = try? r.string(), let retry = try? r.string(), let message = try? r.string() else {
            return NvisyError(.internal, "plugin process sent an unreadable error", retry: .transient)
        }
        return NvisyError(Kind(rawValue: kind) ?? .internal, message, retry: RetryClass(rawValue: retry) ?? .permanent)
    }
}
