import Foundation
import NIOCore
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyNATS
@testable import NvisyServer

@Suite("API: files sweep", .serialized)
struct FilesSweepTests {
    @Test("the sweep removes objects without a row and idle chunks without an object; it keeps files, foreign objects and recent chunks")
    func sweep() async throws {
        let fixture = try await ContentFixture.make("api_files_sweep", nats: true)
        let store = fixture.api.fileStore!
        let owner = try await fixture.api.accounts.create(email: "sw-\(UUID().uuidString.prefix(6))@example.com", displayName: "S", passwordHash: "x")
        let ws = try await fixture.api.workspaces.create(name: "S", description: nil, ownerID: owner.id)
        let bytes = FilesTests.pattern(700_000)
        let kept = try await store.upload(.init(workspaceID: ws.id, name: "kept.bin", declaredType: nil, tags: [], createdBy: owner.id, declaredSize: nil),
                                          body: byteStream([ByteBuffer(bytes: bytes)]), maxBytes: 1 << 30, quota: 0)

        // An object of the files' key space that no row names (its upload's host died after the put).
        let orphan = "f/" + UUID().uuidString.lowercased()
        try await store.objects.put(orphan, bytes: FilesTests.pattern(300_000))
        // Something else in the bucket, not under f/: not the sweep's to judge.
        try await store.objects.put("other/keep", bytes: [1, 2, 3])
        // Chunks a put wrote before it died, with no metadata naming them.
        let nuid = "DEADPUT" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(15)
        for _ in 0..<3 {
            _ = try await store.objects.connection.jetStream.publish(subject: "$O.\(FileStore.bucket).C.\(nuid)", data: FilesTests.pattern(1000))
        }
        #expect(try await store.objects.chunkSets().contains { $0.nuid == nuid && $0.messages == 3 })

        // At start (grace one hour): the row-less object goes; the fresh chunks may be a put in progress and stay.
        #expect(await store.sweep() == 1)
        await #expect(throws: NvisyError.self) { _ = try await store.objects.info(orphan) }
        #expect(try await store.objects.info(kept.objectKey).size == UInt64(bytes.count))
        #expect(try await store.objects.info("other/keep").size == 3)
        #expect(try await store.objects.chunkSets().contains { $0.nuid == nuid })

        // Once idle past the grace, the chunks go too; the kept file still reads back whole.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(await store.sweep(olderThan: .seconds(1)) == 1)
        #expect(try await !store.objects.chunkSets().contains { $0.nuid == nuid })
        #expect(FilesTests.hex(try await store.objects.bytes(kept.objectKey)) == FilesTests.hex(bytes))
        #expect(try await store.objects.info("other/keep").size == 3)
        #expect(fixture.logs.text.contains("swept objects without a file row"))
        await fixture.stop()
    }
}
