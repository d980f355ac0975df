import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NvisyCore
import NvisyNATS
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyServer

/// A `multipart/form-data` body built by hand, byte for byte what a browser or curl sends.
struct Form {
    static let boundary = "----nvisyFormBoundary7MA4YWxkTrZu0gW"
    var bytes: [UInt8] = []

    mutating func field(_ name: String, _ value: String) {
        bytes += Array("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
    }

    mutating func file(_ name: String = "file", filename: String?, type: String?, _ data: [UInt8]) {
        var head = "--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"\(name)\""
        if let filename { head += "; filename=\"\(filename)\"" }
        head += "\r\n"
        if let type { head += "Content-Type: \(type)\r\n" }
        bytes += Array((head + "\r\n").utf8) + data + Array("\r\n".utf8)
    }

    mutating func close() { bytes += Array("--\(Self.boundary)--\r\n".utf8) }

    static var contentType: String { "multipart/form-data; boundary=\(boundary)" }
}

@Suite("API: multipart uploads", .serialized)
struct FilesMultipartTests {
    /// Text with near-boundaries in it: CRLF--, a boundary prefix, a boundary without its CRLF.
    static func tricky(_ count: Int) -> [UInt8] {
        let pieces = ["a,b,c\r\n", "\r\n--", "\r\n--\(Form.boundary.dropLast(3))", "--\(Form.boundary)", "\r\n-", "1,2,3\n"].map { Array($0.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var i = 0
        while out.count < count {
            out += pieces[i % pieces.count]
            i += 1
        }
        return Array(out.prefix(count))
    }

    @Test("the reader finds parts whatever the chunking, and hands the file body on in pieces")
    func readerChunking() async throws {
        let data = Self.tricky(200_000)
        var form = Form()
        form.field("tags", "x,y")
        form.file(filename: "C:\\Users\\me\\data.csv", type: "text/csv", data)
        form.close()
        for sizes in [[1], [2, 3, 5, 7], [37], [65_536]] {
            var chunks: [ByteBuffer] = []
            var offset = 0, k = 0
            while offset < form.bytes.count {
                let n = min(sizes[k % sizes.count], form.bytes.count - offset)
                chunks.append(ByteBuffer(bytes: form.bytes[offset..<(offset + n)]))
                offset += n
                k += 1
            }
            let reader = try MultipartFormReader.make(body: byteStream(chunks), contentType: Form.contentType)
            let tags = try #require(try await reader.nextPart())
            #expect(tags.name == "tags")
            #expect(try await reader.text(max: 100, field: "tags") == "x,y")
            let file = try #require(try await reader.nextPart())
            #expect(file.name == "file")
            #expect(file.filename == "data.csv")
            #expect(file.contentType == "text/csv")
            var got: [UInt8] = []
            for try await chunk in MultipartFileBody(reader: reader, partName: "file") { got += Array(buffer: chunk) }
            #expect(got == data, "chunk sizes \(sizes)")
        }
    }

    @Test("upload a form (fields, then the file), download the same bytes; names from ?name=, the name field, the filename")
    func roundTrip() async throws {
        let fixture = try await ContentFixture.make("api_multipart", nats: true) { $0.maxFileBytes = 16 << 20 }
        try await fixture.app().test(.live) { client in
            let (token, _) = try await client.signup("mp-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token)
            let data = Self.tricky(5 << 20)
            var form = Form()
            form.field("tags", "csv, daily")
            form.field("tags", "raw")
            form.file(filename: "report.csv", type: "text/csv", data)
            form.close()
            var r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files", token: token, body: ByteBuffer(bytes: form.bytes),
                                         headers: [.contentType: Form.contentType])
            #expect(r.status == .created, "\(String(buffer: r.body))")
            let meta = try #require(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])
            #expect(meta["name"] as? String == "report.csv")
            #expect(meta["size"] as? Int == data.count)
            #expect(meta["sha256"] as? String == FilesTests.hex(data))
            #expect(meta["declaredType"] as? String == "text/csv")
            #expect(meta["tags"] as? [String] == ["csv", "daily", "raw"])
            let id = try #require(meta["id"] as? String)
            r = try await client.raw(.get, "/api/v1/files/\(id)/content", token: token)
            #expect(r.status == .ok)
            #expect(FilesTests.hex(Array(buffer: r.body)) == FilesTests.hex(data))

            // The name field wins over the filename; ?name= wins over both. An empty file works.
            form = Form()
            form.field("name", "renamed.csv")
            form.file(filename: "report.csv", type: nil, [])
            form.close()
            r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files", token: token, body: ByteBuffer(bytes: form.bytes),
                                     headers: [.contentType: Form.contentType])
            var answer = try #require(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])
            #expect(r.status == .created)
            #expect(answer["name"] as? String == "renamed.csv")
            #expect(answer["size"] as? Int == 0)
            r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=report.csv", token: token, body: ByteBuffer(bytes: form.bytes),
                                     headers: [.contentType: Form.contentType])
            answer = try #require(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])
            #expect(answer["name"] as? String == "report.csv")
            #expect(answer["version"] as? Int == 2)
        }
        await fixture.stop()
    }

    @Test("a malformed form is a 400 problem naming what is wrong, and leaves neither row nor object", arguments: [
        ("no boundary", "multipart/form-data", "needs a boundary"),
        ("no file part", Form.contentType, "no part named file"),
        ("unknown field", Form.contentType, "unknown field"),
        ("truncated", Form.contentType, "ended before the closing boundary"),
        ("part after the file", Form.contentType, "a part follows the file part"),
        ("no part name", Form.contentType, "has no Content-Disposition"),
        ("no name at all", Form.contentType, "is required"),
        ("garbage", Form.contentType, "no boundary"),
        ("over the size limit", Form.contentType, "larger than the limit"),
        ("NUL in a tag", Form.contentType, "must not contain control characters"),
        ("NUL in the part's type", Form.contentType, "Content-Type must be a media type"),
    ])
    func malformed(_ label: String, _ contentType: String, _ message: String) async throws {
        let fixture = try await ContentFixture.make("api_multipart_bad", nats: true) { $0.maxFileBytes = 1 << 20 }
        let store = fixture.api.fileStore!
        var form = Form()
        switch label {
        case "no file part": form.field("name", "a.txt"); form.close()
        case "unknown field": form.field("colour", "red"); form.file(filename: "a.txt", type: nil, [1, 2]); form.close()
        case "truncated": form.file(filename: "a.txt", type: nil, Array(repeating: 7, count: 300_000)); form.bytes.removeLast(10)
        case "part after the file": form.file(filename: "a.txt", type: nil, [1, 2, 3]); form.field("tags", "late"); form.close()
        case "no part name":
            form.bytes = Array("--\(Form.boundary)\r\nContent-Disposition: form-data; filename=\"a.txt\"\r\n\r\nabc\r\n--\(Form.boundary)--\r\n".utf8)
        case "no name at all": form.file(filename: nil, type: nil, [1]); form.close()
        case "garbage": form.bytes = Array(repeating: UInt8(ascii: "z"), count: 100_000)
        case "NUL in a tag": form.field("tags", "a\u{0}b"); form.file(filename: "a.txt", type: nil, [1]); form.close()
        case "NUL in the part's type": form.file(filename: "a.txt", type: "text/plain\u{0}", [1]); form.close()
        case "over the size limit": form.file(filename: "big.bin", type: nil, FilesTests.pattern((1 << 20) + 1)); form.close()
        default: form.file(filename: "a.txt", type: nil, [1]); form.close()
        }
        let body = form.bytes
        try await fixture.app().test(.live) { client in
            let (token, _) = try await client.signup("bad-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token)
            let before = try await store.objects.list().count
            let r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files", token: token, body: ByteBuffer(bytes: body),
                                         headers: [.contentType: contentType])
            #expect(r.status == (label == "over the size limit" ? .contentTooLarge : .badRequest), "\(label): \(String(buffer: r.body))")
            #expect(r.headers[.contentType] == "application/problem+json")
            #expect(String(buffer: r.body).contains(message), "\(label): \(String(buffer: r.body))")
            let rows = try await fixture.base.database.client.query("SELECT count(*)::bigint FROM files")
            for try await n in rows.decode(Int64.self) { #expect(n == 0, "\(label)") }
            #expect(try await store.objects.list().count == before, "\(label)")
            #expect(try await store.objects.chunkSets().isEmpty, "\(label): chunks left behind")
        }
        await fixture.stop()
    }
}
