import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyNATS
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyServer

@Suite("API: files", .serialized)
struct FilesTests {
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func pattern(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var x: UInt32 = 2_463_534_242
        for i in 0..<count { x ^= x << 13; x ^= x >> 17; x ^= x << 5; out[i] = UInt8(truncatingIfNeeded: x) }
        return out
    }

    @Test("upload and download 0 B, 1 B, 64 MiB (a live server on a socket) with equal digests; Range; ETag; versions; filters; event; 404 across workspaces")
    func roundTrips() async throws {
        let fixture = try await ContentFixture.make("api_files", nats: true) { $0.maxFileBytes = 100 << 20 }
        let objects = fixture.api.fileStore!.objects
        try await fixture.app().test(.live) { client in
            let (token, _) = try await client.signup("files-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token)
            for size in (ProcessInfo.processInfo.environment["NVISY_FILES_SIZES"].map { $0.split(separator: ",").compactMap { Int($0) } } ?? [0, 1, 64 << 20]) {
                let bytes = Self.pattern(size)
                let port = try #require(client.port)
                let up = try await socketRequest(port: port, "POST", "/api/v1/workspaces/\(ws)/files?name=blob-\(size).bin&tags=a,b", token: token,
                                                 body: Data(bytes), contentType: "application/octet-stream")
                #expect(up.status == 201, "\(String(decoding: up.body, as: UTF8.self))")
                let meta = try #require(try JSONSerialization.jsonObject(with: up.body) as? [String: Any])
                #expect(meta["size"] as? Int == size)
                #expect(meta["sha256"] as? String == Self.hex(bytes))
                let id = try #require(meta["id"] as? String)
                let down = try await socketRequest(port: port, "GET", "/api/v1/files/\(id)/content", token: token)
                #expect(down.status == 200)
                #expect(down.response.value(forHTTPHeaderField: "Content-Length") == String(size))
                #expect(down.response.value(forHTTPHeaderField: "ETag") == "\"\(Self.hex(bytes))\"")
                #expect(down.body.count == size)
                #expect(Self.hex(down.body) == Self.hex(bytes))
                // The object key names no workspace.
                let row = try #require(try await fixture.api.files.find(id: UUID(uuidString: id)!))
                #expect(!row.objectKey.contains(ws))
                #expect(try await objects.info(row.objectKey).size == UInt64(size))
            }

            // Range, ETag, Content-Type.
            let text = Array("hello, range requests!\n".utf8)
            var up = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=notes.txt&tags=doc", token: token,
                                          body: ByteBuffer(bytes: text), headers: [.contentType: "text/plain"])
            let first = try #require(try JSONSerialization.jsonObject(with: Data(buffer: up.body)) as? [String: Any])
            let id = try #require(first["id"] as? String)
            #expect(first["contentType"] as? String == "text/plain")
            var r = try await client.raw(.get, "/api/v1/files/\(id)/content", token: token, headers: [.range: "bytes=7-11"])
            #expect(r.status == .partialContent)
            #expect(String(buffer: r.body) == "range")
            #expect(r.headers[.contentRange] == "bytes 7-11/\(text.count)")
            #expect(r.headers[.contentType] == "text/plain")
            r = try await client.raw(.get, "/api/v1/files/\(id)/content", token: token, headers: [.range: "bytes=-9"])
            #expect(String(buffer: r.body) == "requests!\n".suffix(9).description)
            r = try await client.raw(.get, "/api/v1/files/\(id)/content", token: token, headers: [.range: "bytes=20-"])
            #expect(Array(buffer: r.body) == Array(text[20...]))
            r = try await client.raw(.get, "/api/v1/files/\(id)/content", token: token, headers: [.range: "bytes=999-"])
            #expect(r.status == .rangeNotSatisfiable)
            r = try await client.raw(.get, "/api/v1/files/\(id)/content", token: token, headers: [.ifNoneMatch: "\"\(Self.hex(text))\""])
            #expect(r.status == .notModified)

            // A second upload of the same name: version 2 linked to version 1.
            up = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files", token: token, body: ByteBuffer(string: "v2"),
                                      headers: [.contentType: "text/plain", .contentDisposition: "attachment; filename=\"notes.txt\""])
            let second = try #require(try JSONSerialization.jsonObject(with: Data(buffer: up.body)) as? [String: Any])
            #expect(second["version"] as? Int == 2)
            #expect(second["previousId"] as? String == id)

            // Filters.
            var list = try await client.call(.get, "/api/v1/workspaces/\(ws)/files?name=notes.txt", token: token)
            #expect((list.body["items"] as? [Any])?.count == 2)
            list = try await client.call(.get, "/api/v1/workspaces/\(ws)/files?tag=a", token: token)
            #expect((list.body["items"] as? [Any])?.count == 3)
            list = try await client.call(.get, "/api/v1/workspaces/\(ws)/files?type=text/*", token: token)
            let types = ((list.body["items"] as? [[String: Any]]) ?? []).compactMap { $0["contentType"] as? String }
            #expect(types.count >= 2 && types.allSatisfy { $0.hasPrefix("text/") }, "\(types)")
            list = try await client.call(.get, "/api/v1/workspaces/\(ws)/files?type=application/pdf", token: token)
            #expect((list.body["items"] as? [Any])?.count == 0)

            // PATCH, then DELETE removes the object.
            var answer = try await client.call(.patch, "/api/v1/files/\(id)", token: token, json: ["name": "old-notes.txt", "tags": ["x", "x", "y"]])
            #expect(answer.body["name"] as? String == "old-notes.txt")
            #expect(answer.body["tags"] as? [String] == ["x", "y"])
            let key = try #require(try await fixture.api.files.find(id: UUID(uuidString: id)!)).objectKey
            answer = try await client.call(.delete, "/api/v1/files/\(id)", token: token)
            #expect(answer.status == .noContent)
            answer = try await client.call(.get, "/api/v1/files/\(id)", token: token)
            #expect(answer.status == .notFound)
            await #expect(throws: NvisyError.self) { _ = try await objects.info(key) }

            // The file.uploaded events.
            let events = try await fixture.api.files.events(workspaceID: UUID(uuidString: ws)!, type: "file.uploaded")
            #expect(events.count == 5)
            #expect(events.last?.payloadJSON.contains("\"version\": 2") == true || events.last?.payloadJSON.contains("\"version\":2") == true)

            // Another workspace's owner sees nothing.
            let (other, _) = try await client.signup("other-\(UUID().uuidString.prefix(6))@example.com")
            let sid = try #require(second["id"] as? String)
            r = try await client.raw(.get, "/api/v1/files/\(sid)/content", token: other)
            #expect(r.status == .notFound)
            answer = try await client.call(.get, "/api/v1/files/\(sid)", token: other)
            #expect(answer.status == .notFound)
            r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=x", token: other, body: ByteBuffer(string: "x"))
            #expect(r.status == .notFound)
        }
        await fixture.stop()
    }

    @Test("size limit and quota: 413, and neither object nor row remains; the sweep removes leftovers")
    func limits() async throws {
        let fixture = try await ContentFixture.make("api_files_limits", nats: true) {
            $0.maxFileBytes = 1 << 20
            $0.workspaceQuotaBytes = 3 << 19
        }
        let store = fixture.api.fileStore!
        try await fixture.app().test(.live) { client in
            let (token, _) = try await client.signup("limits-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token)
            let before = try await store.objects.list().filter { !$0.deleted }.count
            // Over the size limit, announced by Content-Length.
            var r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=big.bin", token: token,
                                         body: ByteBuffer(bytes: Self.pattern((1 << 20) + 1)))
            #expect(r.status == .contentTooLarge)
            #expect(r.headers[.contentType] == "application/problem+json")
            // Within the limit: 1 MiB, then 0.5 MiB fits the 1.5 MiB quota, then 1 byte more does not.
            r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=a.bin", token: token, body: ByteBuffer(bytes: Self.pattern(1 << 20)))
            #expect(r.status == .created)
            r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=b.bin", token: token, body: ByteBuffer(bytes: Self.pattern(1 << 19)))
            #expect(r.status == .created)
            r = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=c.bin", token: token, body: ByteBuffer(bytes: [1]))
            #expect(r.status == .contentTooLarge)
            let rows = try await fixture.base.database.client.query("SELECT count(*)::bigint FROM files WHERE status <> 'ready'")
            for try await n in rows.decode(Int64.self) { #expect(n == 0) }
            let after = try await store.objects.list().filter { !$0.deleted }.count
            #expect(after == before + 2)
        }

        // An upload whose body fails half-way (no Content-Length): object purged, row removed.
        struct Broken: Error {}
        let failing = AsyncThrowingStream<ByteBuffer, any Error> { c in
            c.yield(ByteBuffer(bytes: Self.pattern(300_000)))
            c.finish(throwing: Broken())
        }
        let owner = try await fixture.api.accounts.create(email: "s-\(UUID().uuidString.prefix(6))@example.com", displayName: "S", passwordHash: "x")
        let wsID = try await fixture.api.workspaces.create(name: "S", description: nil, ownerID: owner.id)
        let upload = FileStore.Upload(workspaceID: wsID.id, name: "half.bin", declaredType: nil, tags: [], createdBy: owner.id, declaredSize: nil)
        await #expect(throws: Broken.self) { _ = try await store.upload(upload, body: failing, maxBytes: 1 << 20, quota: 0) }
        var rows = try await fixture.base.database.client.query("SELECT count(*)::bigint FROM files WHERE workspace_id = \(wsID.id)")
        for try await n in rows.decode(Int64.self) { #expect(n == 0) }

        // A leftover from a crashed host: a row still 'uploading' with an object. The sweep removes both.
        let key = "f/" + UUID().uuidString.lowercased()
        _ = try await store.objects.put(key, bytes: Array("partial".utf8))
        try await fixture.base.database.client.query("""
            INSERT INTO files (id, workspace_id, name, object_key, updated_at) VALUES (\(UUID.v7()), \(wsID.id), 'crashed.bin', \(key), now() - interval '2 hours')
            """)
        #expect(await store.sweep(olderThan: .seconds(3600)) == 1)
        await #expect(throws: NvisyError.self) { _ = try await store.objects.info(key) }
        rows = try await fixture.base.database.client.query("SELECT count(*)::bigint FROM files WHERE workspace_id = \(wsID.id)")
        for try await n in rows.decode(Int64.self) { #expect(n == 0) }
        await fixture.stop()
    }

    @Test("Range parsing")
    func ranges() {
        #expect(FilesController.parseRange("bytes=0-0", size: 10) == 0..<1)
        #expect(FilesController.parseRange("bytes=5-", size: 10) == 5..<10)
        #expect(FilesController.parseRange("bytes=-3", size: 10) == 7..<10)
        #expect(FilesController.parseRange("bytes=-30", size: 10) == 0..<10)
        #expect(FilesController.parseRange("bytes=8-100", size: 10) == 8..<10)
        #expect(FilesController.parseRange("bytes=10-", size: 10) == nil)
        #expect(FilesController.parseRange("bytes=3-2", size: 10) == nil)
        #expect(FilesController.parseRange("bytes=0-1,3-4", size: 10) == nil)
        #expect(FilesController.parseRange("items=0-1", size: 10) == nil)
    }
}
