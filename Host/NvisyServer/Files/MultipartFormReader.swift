import Foundation
import NIOCore
import NvisyCore
import Synchronization

/// Reads a `multipart/form-data` body (RFC 7578) part by part as it arrives, without holding
/// more than one incoming chunk plus a delimiter's length: a part's body is handed on as slices
/// of the request's own buffers.
///
/// The delimiter is `CRLF--boundary`; the reader pretends the body starts with a CRLF so the first
/// boundary (which has none before it) matches the same way. Between parts it reads the header
/// block (bounded); inside a part it hands out everything that cannot be the start of a delimiter.
///
/// `@unchecked Sendable`: the upload hands the reader from the request handler to the body
/// sequence that ``FileStore/upload(_:body:maxBytes:quota:)`` iterates in the same task, one
/// awaited call after another. Its mutable state is touched only inside ``nextPart()``,
/// ``text(max:)``, ``bodyChunk()`` and ``finish()``, and each of those first takes ``busy`` (and
/// throws if it is already taken), so two calls can never interleave even if a caller tried.
final class MultipartFormReader<Base: AsyncSequence & Sendable>: @unchecked Sendable where Base.Element == ByteBuffer {
    /// One part's headers.
    struct Part: Sendable {
        /// The `name` of its `Content-Disposition: form-data`.
        var name: String
        /// The `filename` (or `filename*`) of its `Content-Disposition`, without any folder.
        var filename: String?
        /// Its `Content-Type`, if given.
        var contentType: String?
    }

    /// Longest header block of one part.
    static var maxHeaderBytes: Int { 16 * 1024 }
    /// Longest preamble (bytes before the first boundary) and epilogue read.
    static var maxPreambleBytes: Int { 64 * 1024 }
    /// Most parts in one form.
    static var maxParts: Int { 100 }

    private enum State { case preamble, headers, body, done }

    private var iterator: Base.AsyncIterator
    private var buffer: ByteBuffer
    private var ended = false
    private var state = State.preamble
    private var parts = 0
    private let delimiter: [UInt8]
    private let busy = Mutex(false)
    let boundary: String

    /// A reader of `body`, whose Content-Type is `contentType`.
    ///
    /// - Throws: `invalidInput` when `contentType` is not `multipart/form-data` with a usable boundary.
    static func make(body: Base, contentType: String) throws(NvisyError) -> MultipartFormReader {
        guard let boundary = Self.boundary(of: contentType) else {
            throw Self.bad("a multipart/form-data body needs a boundary parameter of 1 to 70 characters in its Content-Type")
        }
        return MultipartFormReader(body: body, boundary: boundary)
    }

    // Not throwing: a throwing initializer of a class with a Mutex stored property crashes the
    // Swift 6.3 optimizer (release builds) on its partial-destruction path.
    private init(body: Base, boundary: String) {
        self.boundary = boundary
        self.delimiter = Array("\r\n--\(boundary)".utf8)
        self.iterator = body.makeAsyncIterator()
        // The CRLF the first delimiter lacks.
        self.buffer = ByteBuffer(bytes: [13, 10])
    }

    /// The boundary of a `multipart/form-data; boundary=…` media type, nil if it is missing or malformed.
    static func boundary(of contentType: String) -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard pieces.first?.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() {
            guard let eq = piece.firstIndex(of: "="), piece[..<eq].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var value = piece[piece.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
            return value
        }
        return nil
    }

    static func bad(_ message: String) -> NvisyError {
        NvisyError.invalidInput("multipart/form-data: \(message)", pointer: "/body")
    }

    // MARK: Parts

    /// The next part's headers, skipping what is left of the current part; nil after the closing boundary.
    func nextPart() async throws -> Part? {
        try enter()
        defer { leave() }
        if state == .body { while try await rawBodyChunk() != nil {} }
        if state == .preamble {
            guard try await skipPreamble() else { throw Self.bad("no boundary --\(boundary) found in the first \(Self.maxPreambleBytes) bytes") }
            state = .headers
        }
        guard state == .headers else { return nil }
        guard try await afterDelimiter() else {
            state = .done
            return nil
        }
        parts += 1
        guard parts <= Self.maxParts else { throw Self.bad("more than \(Self.maxParts) parts") }
        let part = try await headers()
        state = .body
        return part
    }

    /// The current part's body as UTF-8 text, at most `max` bytes (a form field).
    func text(max: Int, field: String) async throws -> String {
        try enter()
        defer { leave() }
        var bytes = ByteBuffer()
        while let chunk = try await rawBodyChunk() {
            guard bytes.readableBytes + chunk.readableBytes <= max else { throw Self.bad("the field \(field) is longer than \(max) bytes") }
            bytes.writeImmutableBuffer(chunk)
        }
        guard let text = String(bytes: bytes.readableBytesView, encoding: .utf8) else {
            throw Self.bad("the field \(field) is not UTF-8 text")
        }
        return text
    }

    /// The next bytes of the current part's body; nil at its end.
    func bodyChunk() async throws -> ByteBuffer? {
        try enter()
        defer { leave() }
        return try await rawBodyChunk()
    }

    /// After the last wanted part: reads on to the closing boundary and drains the epilogue.
    /// Throws if another part follows (`after` names the part that had to be last).
    func finish(after: String) async throws {
        try enter()
        defer { leave() }
        if state == .body { while try await rawBodyChunk() != nil {} }
        if state == .headers {
            if try await afterDelimiter() {
                throw Self.bad("a part follows the \(after) part; send the fields (name, tags) before the \(after) part")
            }
            state = .done
        }
        // The epilogue: ignored, but read (bounded) so the connection stays usable.
        var epilogue = buffer.readableBytes
        buffer.clear()
        while !ended, epilogue <= Self.maxPreambleBytes {
            guard let more = try await iterator.next() else { ended = true; break }
            epilogue += more.readableBytes
        }
        if epilogue > Self.maxPreambleBytes { throw Self.bad("more than \(Self.maxPreambleBytes) bytes after the closing boundary") }
    }

    private func enter() throws(NvisyError) {
        let taken = busy.withLock { busy in
            defer { busy = true }
            return busy
        }
        if taken { throw NvisyError.internal("a multipart reader was used by two callers at once") }
    }

    private func leave() { busy.withLock { $0 = false } }

    // MARK: Bytes

    /// Reads one more chunk of the body onto the buffer; false at the end of the body.
    private func more() async throws -> Bool {
        guard !ended else { return false }
        guard var next = try await iterator.next() else {
            ended = true
            return false
        }
        if buffer.readableBytes == 0 {
            buffer = next
        } else {
            buffer.writeBuffer(&next)
        }
        return true
    }

    /// Consumes everything up to and including the first delimiter; false if none comes within the limit.
    private func skipPreamble() async throws -> Bool {
        var skipped = 0
        while true {
            if let at = Self.find(delimiter, in: buffer) {
                buffer.moveReaderIndex(forwardBy: at + delimiter.count)
                return true
            }
            // Keep what could be the start of the delimiter.
            let keep = min(buffer.readableBytes, delimiter.count - 1)
            skipped += buffer.readableBytes - keep
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes - keep)
            guard skipped <= Self.maxPreambleBytes else { return false }
            guard try await more() else { return false }
        }
    }

    /// Right after a delimiter: `--` closes the form (false); else optional spaces and CRLF (true).
    private func afterDelimiter() async throws -> Bool {
        while buffer.readableBytes < 2 { guard try await more() else { throw Self.truncated() } }
        let view = buffer.readableBytesView
        if view[view.startIndex] == UInt8(ascii: "-"), view[view.startIndex + 1] == UInt8(ascii: "-") {
            buffer.moveReaderIndex(forwardBy: 2)
            return false
        }
        while true {
            let view = buffer.readableBytesView
            if let lf = view.firstIndex(of: 10) {
                let line = view[view.startIndex..<lf]
                guard line.last == 13, line.dropLast().allSatisfy({ $0 == 32 || $0 == 9 }) else {
                    throw Self.bad("a boundary line --\(boundary) is followed by other characters")
                }
                buffer.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
                return true
            }
            guard buffer.readableBytes < 256 else { throw Self.bad("a boundary line --\(boundary) is followed by other characters") }
            guard try await more() else { throw Self.truncated() }
        }
    }

    /// A part's header block, up to the empty line.
    private func headers() async throws -> Part {
        let end: [UInt8] = [13, 10, 13, 10]
        var block: String
        while true {
            // A part without headers starts with the empty line at once.
            if buffer.readableBytesView.starts(with: [13, 10]) {
                buffer.moveReaderIndex(forwardBy: 2)
                block = ""
                break
            }
            if let at = Self.find(end, in: buffer) {
                block = buffer.readString(length: at) ?? ""
                buffer.moveReaderIndex(forwardBy: 4)
                break
            }
            guard buffer.readableBytes <= Self.maxHeaderBytes else { throw Self.bad("a part's headers are longer than \(Self.maxHeaderBytes) bytes") }
            guard try await more() else { throw Self.truncated() }
        }
        var name: String?
        var filename: String?
        var contentType: String?
        for line in block.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { throw Self.bad("a part header has no colon: \(line.prefix(80))") }
            let field = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch field {
            case "content-disposition":
                let params = Self.parameters(value)
                guard params.type == "form-data" else { throw Self.bad("a part's Content-Disposition is \(params.type), not form-data") }
                name = params.values["name"]
                if let extended = params.values["filename*"], let decoded = Self.extendedValue(extended) {
                    filename = decoded
                } else {
                    filename = params.values["filename"]
                }
            case "content-type": contentType = value.isEmpty ? nil : value
            default: break
            }
        }
        guard let name, !name.isEmpty else { throw Self.bad("part \(parts) has no Content-Disposition: form-data; name=\"…\" header") }
        let base = filename.map { ($0.replacingOccurrences(of: "\\", with: "/") as NSString).lastPathComponent }
        return Part(name: name, filename: base?.isEmpty == true ? nil : base, contentType: contentType)
    }

    /// The next slice of the current part's body; nil (and the state moves on) at its delimiter.
    private func rawBodyChunk() async throws -> ByteBuffer? {
        guard state == .body else { return nil }
        while true {
            if let at = Self.find(delimiter, in: buffer) {
                if at > 0 { return buffer.readSlice(length: at) }
                buffer.moveReaderIndex(forwardBy: delimiter.count)
                state = .headers
                return nil
            }
            let safe = buffer.readableBytes - Self.partialMatch(delimiter, atEndOf: buffer)
            if safe > 0 { return buffer.readSlice(length: safe) }
            guard try await more() else { throw Self.truncated() }
        }
    }

    private static func truncated() -> NvisyError {
        bad("the body ended before the closing boundary (a part or the final --boundary-- is missing)")
    }

    /// Offset of the first occurrence of `needle` in the readable bytes of `buffer`.
    static func find(_ needle: [UInt8], in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { hay -> Int? in
            guard let first = needle.first, hay.count >= needle.count, let base = hay.baseAddress else { return nil }
            var offset = 0
            let last = hay.count - needle.count
            while offset <= last {
                guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return nil }
                let at = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(base + at, needle, needle.count) == 0 { return at }
                offset = at + 1
            }
            return nil
        }
    }

    /// How many bytes at the end of `buffer` are a proper prefix of `needle` (could start it).
    static func partialMatch(_ needle: [UInt8], atEndOf buffer: ByteBuffer) -> Int {
        buffer.withUnsafeReadableBytes { hay -> Int in
            let longest = min(needle.count - 1, hay.count)
            var length = longest
            while length > 0 {
                if memcmp(hay.baseAddress! + (hay.count - length), needle, length) == 0 { return length }
                length -= 1
            }
            return 0
        }
    }

    /// `type; a=1; b="two"` → ("type", [a: 1, b: two]); keys lowercased, `%22` in values decoded to `"`.
    static func parameters(_ value: String) -> (type: String, values: [String: String]) {
        var values: [String: String] = [:]
        var pieces: [String] = []
        var current = ""
        var quoted = false
        // No backslash escapes: browsers send `"` as %22 (HTML's form encoding) and a
        // backslash as itself, e.g. in a full Windows path.
        for ch in value {
            if ch == "\"" { quoted.toggle(); current.append(ch); continue }
            if ch == ";" && !quoted { pieces.append(current); current = ""; continue }
            current.append(ch)
        }
        pieces.append(current)
        let type = pieces.first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        for piece in pieces.dropFirst() {
            guard let eq = piece.firstIndex(of: "=") else { continue }
            let key = piece[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            var val = piece[piece.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if val.hasPrefix("\""), val.hasSuffix("\""), val.count >= 2 { val = String(val.dropFirst().dropLast()) }
            values[key] = val.replacingOccurrences(of: "%22", with: "\"")
        }
        return (type, values)
    }

    /// An RFC 8187 `UTF-8''percent%20encoded` value.
    static func extendedValue(_ value: String) -> String? {
        let parts = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].lowercased() == "utf-8" else { return nil }
        return String(parts[2]).removingPercentEncoding
    }
}

/// The body of the file part, for ``FileStore/upload(_:body:maxBytes:quota:)``: its bytes as they
/// arrive; at its end, the rest of the form is read (and must hold no further part).
struct MultipartFileBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let reader: MultipartFormReader<Base>
    let partName: String

    struct AsyncIterator: AsyncIteratorProtocol {
        let reader: MultipartFormReader<Base>
        let partName: String
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            guard !finished else { return nil }
            if let chunk = try await reader.bodyChunk() { return chunk }
            finished = true
            try await reader.finish(after: partName)
            return nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader, partName: partName) }
}
