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
        let ws = workspace.uuidString, model = String(modelID)
        var tagsText: [UUID: ByteBuffer] = [:]
        for (id, f) in files {
            var escaped = ByteBuffer()
            writeEscaped(arrayLiteral(f.tags), to: &escaped)
            tagsText[id] = escaped
        }
        try await connection.copyFrom(table: "chunks", columns: columns, logger: logger) { writer in
            var buffer = allocator.buffer(capacity: pieceBytes + 64 * 1024)
            for c in chunks {
                guard let file = files[c.fileID], let tags = tagsText[c.fileID] else { continue }
                // Bytes straight into the buffer: no String per field, per row or per float.
                buffer.writeString(UUID.v7().uuidString)
                for field in [ws, c.fileID.uuidString, String(file.version), c.indexRun.uuidString, String(c.position),
                              c.page.map(String.init) ?? "\\N"] {
                    buffer.writeInteger(UInt8(ascii: "\t"))
                    buffer.writeString(field)
                }
                buffer.writeInteger(UInt8(ascii: "\t"))
                if let section = c.section, !section.isEmpty { writeEscaped(section, to: &buffer) } else { buffer.writeStaticString("\\N") }
                for field in [String(c.start), String(c.end)] {
                    buffer.writeInteger(UInt8(ascii: "\t"))
                    buffer.writeString(field)
                }
                buffer.writeInteger(UInt8(ascii: "\t"))
                writeEscaped(c.text, to: &buffer)
                buffer.writeInteger(UInt8(ascii: "\t"))
                buffer.writeString(String(c.tokenCount))
                buffer.writeInteger(UInt8(ascii: "\t"))
                buffer.writeImmutableBuffer(tags)
                buffer.writeInteger(UInt8(ascii: "\t"))
                buffer.writeString(model)
                buffer.writeInteger(UInt8(ascii: "\t"))
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

    /// pgvector's text form of `vector` (`[0.1,0.2,...]`, a non-finite value as 0), written in place.
    static func writeVector(_ vector: [Float], to buffer: inout ByteBuffer) {
        var out = ByteBufferTextStream(buffer: buffer)
        buffer = ByteBuffer()  // the stream holds the only reference: appends do not copy
        out.buffer.writeInteger(UInt8(ascii: "["))
        for (i, x) in vector.enumerated() {
            if i > 0 { out.buffer.writeInteger(UInt8(ascii: ",")) }
            if x.isFinite { x.write(to: &out) } else { out.buffer.writeInteger(UInt8(ascii: "0")) }
        }
        out.buffer.writeInteger(UInt8(ascii: "]"))
        buffer = out.buffer
    }

    /// Lets `Float.write(to:)` print its shortest round-trip digits into a ByteBuffer.
    struct ByteBufferTextStream: TextOutputStream {
        var buffer: ByteBuffer
        mutating func write(_ string: String) { buffer.writeString(string) }
    }

    /// A `text[]` literal: `{"a","b \"c\""}` (every element quoted, so commas, braces and
    /// spaces stay inside it).
    static func arrayLiteral(_ values: [String]) -> String {
        "{" + values.map { v in
            "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }.joined(separator: ",") + "}"
    }
}
