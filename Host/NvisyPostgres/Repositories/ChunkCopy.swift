import Foundation
import NvisyCore
import PostgresNIO

/// Writes chunk rows with `COPY chunks (…) FROM STDIN` (text format), streamed in pieces.
///
/// A multi-row `INSERT … SELECT unnest(…) ON CONFLICT` makes the server plan the statement,
/// unpack eleven arrays and probe the conflict target for every row; COPY only parses a line
/// per row. The rows carry everything a chunk needs — the file's version and tags are looked
/// up once per file beforehand — so nothing is joined per row.
struct ChunkCopy {
    /// A file a chunk belongs to, as stored: the version and tags its chunks copy.
    struct FileRow {
        var version: Int32
        var tags: [String]
    }

    static let columns = ["id", "workspace_id", "file_id", "file_version", "index_run", "position", "page", "section",
                          "start_offset", "end_offset", "text", "token_count", "tags", "model_id", "embedding"]
    /// Bytes per COPY message: big enough to amortise the hand-off, small enough to stream.
    static let pieceBytes = 256 * 1024

    /// The workspace's files among `ids`, with the version and tags their chunks copy.
    static func files(_ ids: [UUID], workspace: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [UUID: FileRow] {
        var out: [UUID: FileRow] = [:]
        let rows = try await connection.query("""
            SELECT id, version, tags FROM files WHERE id = ANY(\(ids)) AND workspace_id = \(workspace)
            """, logger: logger)
        for try await (id, version, tags) in rows.decode((UUID, Int32, [String]).self) { out[id] = FileRow(version: version, tags: tags) }
        return out
    }

    /// Copies `chunks` (those of `files`; the others are skipped) into the table on `connection`.
    static func copy(_ chunks: [NewChunk], files: [UUID: FileRow], workspace: UUID, modelID: Int,
                     on connection: PostgresConnection, logger: Logger) async throws {
        let allocator = ByteBufferAllocator()
        var tagsText: [UUID: ByteBuffer] = [:]
        for (id, f) in files {
            var escaped = ByteBuffer()
            writeEscaped(arrayLiteral(f.tags), to: &escaped)
            tagsText[id] = escaped
        }
        let ids = UUID.v7Batch(count: chunks.count)
        try await connection.copyFrom(table: "chunks", columns: columns, logger: logger) { writer in
            var buffer = allocator.buffer(capacity: pieceBytes + 64 * 1024)
            for (c, id) in zip(chunks, ids) {
                guard let file = files[c.fileID], let tags = tagsText[c.fileID] else { continue }
                // Bytes straight into the buffer: no String per field, per row or per float.
                writeUUID(id, to: &buffer)
                tab(&buffer)
                writeUUID(workspace, to: &buffer)
                tab(&buffer)
                writeUUID(c.fileID, to: &buffer)
                tab(&buffer)
                writeDecimal(Int(file.version), to: &buffer)
                tab(&buffer)
                writeUUID(c.indexRun, to: &buffer)
                tab(&buffer)
                writeDecimal(c.position, to: &buffer)
                tab(&buffer)
                if let page = c.page { writeDecimal(page, to: &buffer) } else { buffer.writeStaticString("\\N") }
                tab(&buffer)
                if let section = c.section, !section.isEmpty { writeEscaped(section, to: &buffer) } else { buffer.writeStaticString("\\N") }
                tab(&buffer)
                writeDecimal(c.start, to: &buffer)
                tab(&buffer)
                writeDecimal(c.end, to: &buffer)
                tab(&buffer)
                writeEscaped(c.text, to: &buffer)
                tab(&buffer)
                writeDecimal(c.tokenCount, to: &buffer)
                tab(&buffer)
                buffer.writeImmutableBuffer(tags)
                tab(&buffer)
                writeDecimal(modelID, to: &buffer)
                tab(&buffer)
                writeVector(c.vector, to: &buffer)
                buffer.writeInteger(UInt8(ascii: "\n"))
                if buffer.readableBytes >= pieceBytes {
                    try await writer.write(buffer)
                    buffer = allocator.buffer(capacity: pieceBytes + 64 * 1024)
                }
            }
            if buffer.readableBytes > 0 { try await writer.write(buffer) }
        }
    }

    private static func tab(_ buffer: inout ByteBuffer) { buffer.writeInteger(UInt8(ascii: "\t")) }

    /// Lower-case hexadecimal digits, for UUIDs and floats.
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `id` in its 36-character text form (what `uuidString` gives, without a String or printf).
    static func writeUUID(_ id: UUID, to buffer: inout ByteBuffer) {
        withUnsafeBytes(of: id.uuid) { bytes in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 36) { out in
                var at = 0
                for (i, byte) in bytes.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    out[at] = hexDigits[Int(byte >> 4)]
                    out[at + 1] = hexDigits[Int(byte & 0xF)]
                    at += 2
                }
                return at
            }
        }
    }

    /// `n` in decimal, without a String.
    static func writeDecimal(_ n: Int, to buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { out in
            var magnitude = n.magnitude
            var at = 0
            if n < 0 {
                out[0] = UInt8(ascii: "-")
                at = 1
            }
            let first = at
            repeat {
                out[at] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                at += 1
            } while magnitude > 0
            // The digits went in least significant first.
            var (i, j) = (first, at - 1)
            while i < j {
                out.swapAt(i, j)
                i += 1
                j -= 1
            }
            return at
        }
    }

    /// `s` as a field of COPY's text format (backslash, tab, newline and carriage return
    /// escaped), written as UTF-8: runs without a character to escape are copied whole.
    static func writeEscaped(_ s: String, to buffer: inout ByteBuffer) {
        var s = s
        s.withUTF8 { bytes in
            var run = 0
            for i in 0..<bytes.count {
                let escaped: UInt8
                switch bytes[i] {
                case 0x5C: escaped = 0x5C  // \\
                case 0x09: escaped = UInt8(ascii: "t")
                case 0x0A: escaped = UInt8(ascii: "n")
                case 0x0D: escaped = UInt8(ascii: "r")
                default: continue
                }
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[run..<i]))
                buffer.writeInteger(UInt8(0x5C))
                buffer.writeInteger(escaped)
                run = i + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[run..<bytes.count]))
        }
    }

    /// pgvector's text form of `vector`, `[0x19999ap-27,...]`, a non-finite value as 0.
    ///
    /// Each float is a C99 hexadecimal constant (its significand as a hexadecimal integer and a
    /// binary exponent), which pgvector reads with `strtof`: exact by construction, so a vector
    /// reads back bit for bit, and far cheaper on both sides than shortest decimal digits, which
    /// the host must search for and the server must convert back with multi-precision
    /// arithmetic (together a fifth of a chunk write's CPU).
    static func writeVector(_ vector: [Float], to buffer: inout ByteBuffer) {
        // Per float at most "-0x" + 6 digits + "p-149" + ",": 15 bytes.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 + 15 * vector.count) { out in
            var at = 0
            out[at] = UInt8(ascii: "[")
            at += 1
            for (k, x) in vector.enumerated() {
                if k > 0 {
                    out[at] = UInt8(ascii: ",")
                    at += 1
                }
                guard x.isFinite else {
                    out[at] = UInt8(ascii: "0")
                    at += 1
                    continue
                }
                if x.sign == .minus {
                    out[at] = UInt8(ascii: "-")
                    at += 1
                }
                if x == 0 {
                    out[at] = UInt8(ascii: "0")
                    at += 1
                    continue
                }
                // x = significand * 2^exponent, with the implicit bit of a normal number.
                let biased = Int(x.exponentBitPattern)
                var significand = UInt32(x.significandBitPattern)
                var exponent = biased == 0 ? -149 : biased - 150
                if biased != 0 { significand |= 1 << 23 }
                let zeros = significand.trailingZeroBitCount
                significand >>= UInt32(zeros)
                exponent += zeros
                out[at] = UInt8(ascii: "0")
                out[at + 1] = UInt8(ascii: "x")
                at += 2
                var digit = (32 - significand.leadingZeroBitCount + 3) / 4
                while digit > 0 {
                    digit -= 1
                    out[at] = hexDigits[Int((significand >> UInt32(4 * digit)) & 0xF)]
                    at += 1
                }
                out[at] = UInt8(ascii: "p")
                at += 1
                if exponent < 0 {
                    out[at] = UInt8(ascii: "-")
                    at += 1
                }
                let e = exponent.magnitude
                if e >= 100 {
                    out[at] = UInt8(ascii: "0") + UInt8(e / 100)
                    at += 1
                }
                if e >= 10 {
                    out[at] = UInt8(ascii: "0") + UInt8(e / 10 % 10)
                    at += 1
                }
                out[at] = UInt8(ascii: "0") + UInt8(e % 10)
                at += 1
            }
            out[at] = UInt8(ascii: "]")
            return at + 1
        }
    }

    /// A `text[]` literal: `{"a","b \"c\""}` (every element quoted, so commas, braces and
    /// spaces stay inside it).
    static func arrayLiteral(_ values: [String]) -> String {
        "{" + values.map { v in
            "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }.joined(separator: ",") + "}"
    }
}
