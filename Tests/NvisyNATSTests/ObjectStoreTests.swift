import Foundation
import NvisyCore
import Testing
@testable import NvisyNATS

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E3779B97F4A7C15) -> [UInt8] {
    var x = seed
    var out = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        withUnsafeBytes(of: x) { word in
            for b in word where i < count { out[i] = b; i += 1 }
        }
    }
    return out
}

func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-obj-\(UUID().uuidString)-\(name)").path
}

@Suite struct ObjectStoreTests {
    @Test(arguments: [0, 1, 128 * 1024, 128 * 1024 + 1, 1_000_000])
    func roundTripInMemory(size: Int) async throws {
        try await withNATS { conn, _ in
            let store = try await conn.jetStream.ensureObjectStore(ObjectStoreConfig(bucket: "files"))
            let data = pseudoRandomBytes(size, seed: UInt64(size) + 1)
            let info = try await store.put("dir/obj \(size).bin", bytes: data)
            #expect(info.size == UInt64(size))
            #expect(info.chunks == (size + ObjectStore.defaultChunkSize - 1) / ObjectStore.defaultChunkSize)
            #expect(info.digest.hasPrefix("SHA-256="))
            #expect(try await store.info("dir/obj \(size).bin") == info)
            #expect(try await store.bytes("dir/obj \(size).bin") == data)
        }
    }

    @Test func fiftyMiBStreamsThroughFiles() async throws {
        try await withNATS { conn, _ in
            let store = try await conn.jetStream.ensureObjectStore(ObjectStoreConfig(bucket: "big"))
            let src = tempPath("src"), dst = tempPath("dst")
            defer { unlink(src); unlink(dst) }
            let data = pseudoRandomBytes(50 * 1024 * 1024 + 17)
            FileManager.default.createFile(atPath: src, contents: Data(data))
            let info = try await store.put("big.bin", contentsOfFile: src)
            #expect(info.size == UInt64(data.count))
            #expect(info.chunks == 401)
            let got = try await store.get("big.bin", toFile: dst)
            #expect(got.digest == info.digest)
            #expect(FileManager.default.contents(atPath: dst) == Data(data))
        }
    }

    @Test func streamingPutOfOddSizedPieces() async throws {
        try await withNATS { conn, _ in
            let store = try await conn.jetStream.ensureObjectStore(ObjectStoreConfig(bucket: "stream"))
            let data = pseudoRandomBytes(700_001)
            let pieces = AsyncStream<[UInt8]> { c in
                var i = 0, step = 1
                while i < data.count {
                    let n = min(step, data.count - i)
                    c.yield(Array(data[i..<(i + n)]))
                    i += n
                    step = step * 3 % 200_003 + 1
                }
                c.finish()
            }
            let info = try await store.put("s", chunks: pieces, meta: ObjectMeta(description: "pieces", chunkSize: 64 * 1024))
            #expect(info.chunks == 11)
            var joined: [UInt8] = []
            for try await chunk in try await store.get("s") { joined += chunk }
            #expect(joined == data)
        }
    }

    @Test func overwriteAndDeletePurgeChunks() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            let store = try await js.ensureObjectStore(ObjectStoreConfig(bucket: "ow"))
            try await store.put("a", bytes: pseudoRandomBytes(300_000))          // 3 chunks + meta
            try await store.put("a", bytes: pseudoRandomBytes(10, seed: 7))       // 1 chunk + meta; old chunks purged
            #expect(try await js.streamInfo("OBJ_ow").messages == 2)
            #expect(try await store.bytes("a") == pseudoRandomBytes(10, seed: 7))
            try await store.put("b", bytes: [1, 2, 3])
            #expect(try await store.list().map(\.name) == ["a", "b"])
            try await store.delete("a")
            #expect(try await js.streamInfo("OBJ_ow").messages == 3)               // a's delete marker, b's chunk + meta
            await #expect { try await store.info("a") } throws: { ($0 as? NvisyError)?.kind == .notFound }
            await #expect { try await store.get("a") } throws: { ($0 as? NvisyError)?.kind == .notFound }
            #expect(try await store.list().map(\.name) == ["b"])
        }
    }

    @Test func corruptedChunkIsADigestErrorNotBadData() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            let store = try await js.ensureObjectStore(ObjectStoreConfig(bucket: "corrupt"))
            let data = pseudoRandomBytes(300_000)
            let info = try await store.put("x", bytes: data)
            // Replace the chunks with the same bytes, one of them flipped.
            let subject = store.chunkSubject(info.nuid)
            try await store.purge(subject: subject)
            var bad = data
            bad[200_000] ^= 0xFF
            for start in stride(from: 0, to: bad.count, by: ObjectStore.defaultChunkSize) {
                let end = min(start + ObjectStore.defaultChunkSize, bad.count)
                _ = try await js.publish(subject: subject, data: Array(bad[start..<end]))
            }
            await #expect { try await store.bytes("x") } throws: {
                let e = $0 as? NvisyError
                return e?.kind == .internal && e?.message.contains("digest mismatch") == true
            }
            let dst = tempPath("corrupt")
            await #expect(throws: NvisyError.self) { try await store.get("x", toFile: dst) }
            #expect(!FileManager.default.fileExists(atPath: dst))
        }
    }

    @Test func badInput() async throws {
        try await withNATS { conn, _ in
            let js = conn.jetStream
            await #expect { try await js.objectStore("nope") } throws: { ($0 as? NvisyError)?.kind == .notFound }
            await #expect { try await js.ensureObjectStore(ObjectStoreConfig(bucket: "bad.name")) } throws: {
                ($0 as? NvisyError)?.kind == .invalidInput
            }
            let store = try await js.ensureObjectStore(ObjectStoreConfig(bucket: "ok"))
            for name in ["", "line\nbreak", "nul\u{0}x", String(repeating: "x", count: 2000)] {
                await #expect { try await store.put(name, bytes: [1]) } throws: { ($0 as? NvisyError)?.kind == .invalidInput }
            }
            await #expect { try await store.info("missing") } throws: { ($0 as? NvisyError)?.kind == .notFound }
        }
    }

    @Test func interopWithNatsPyBothWays() async throws {
        try await withNATS { conn, server in
            let url = await server.url
            let store = try await conn.jetStream.ensureObjectStore(ObjectStoreConfig(bucket: "interop"))
            // nvisy writes, nats-py reads (and checks the digest itself).
            for size in [0, 1, 128 * 1024, 3 * 128 * 1024 + 5] {
                let data = pseudoRandomBytes(size, seed: UInt64(size) &+ 99)
                let name = "from-swift/é \(size).bin"
                let info = try await store.put(name, bytes: data)
                let out = tempPath("py-get")
                defer { unlink(out) }
                let printed = try runPython("nats_objstore_interop.py", ["get", url, "interop", name, out])
                #expect(printed.contains(info.digest))
                #expect(FileManager.default.contents(atPath: out) == Data(data))
            }
            // nats-py writes, nvisy reads.
            for size in [0, 1, 128 * 1024 + 1, 1_000_000] {
                let data = pseudoRandomBytes(size, seed: UInt64(size) &+ 5)
                let src = tempPath("py-put")
                defer { unlink(src) }
                FileManager.default.createFile(atPath: src, contents: Data(data))
                let name = "from-python/\(size).bin"
                _ = try runPython("nats_objstore_interop.py", ["put", url, "interop", name, src])
                let info = try await store.info(name)
                #expect(info.size == UInt64(size))
                #expect(try await store.bytes(name) == data)
            }
            // Overwrite across clients: nats-py replaces an object nvisy wrote.
            try await store.put("shared", bytes: [1, 2, 3])
            let src = tempPath("shared")
            defer { unlink(src) }
            FileManager.default.createFile(atPath: src, contents: Data([9, 8]))
            _ = try runPython("nats_objstore_interop.py", ["put", url, "interop", "shared", src])
            #expect(try await store.bytes("shared") == [9, 8])
        }
    }
}
