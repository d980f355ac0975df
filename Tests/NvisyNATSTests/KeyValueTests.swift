import Foundation
import NvisyCore
import Testing
@testable import NvisyNATS

struct Lease: Codable, Sendable, Equatable {
    var owner: String
    var n: Int
}

@Suite struct KeyValueTests {
    @Test func putGetCreateUpdateDeleteKeys() async throws {
        try await withNATS { conn, _ in
            let kv = try await conn.jetStream.ensureKeyValue(KeyValueConfig(bucket: "leases", history: 5), as: Lease.self)
            #expect(try await kv.get("run.1") == nil)
            let r1 = try await kv.create("run.1", Lease(owner: "a", n: 1))
            await #expect { try await kv.create("run.1", Lease(owner: "b", n: 1)) } throws: { ($0 as? NvisyError)?.kind == .conflict }
            let r2 = try await kv.update("run.1", Lease(owner: "a", n: 2), expectedRevision: r1)
            #expect(r2 > r1)
            // Compare-and-set with a stale revision loses.
            await #expect { try await kv.update("run.1", Lease(owner: "b", n: 9), expectedRevision: r1) } throws: {
                ($0 as? NvisyError)?.kind == .conflict
            }
            let got = try #require(try await kv.get("run.1"))
            #expect(got.value == Lease(owner: "a", n: 2))
            #expect(got.revision == r2)
            try await kv.put("run.2", Lease(owner: "c", n: 0))
            #expect(Set(try await kv.keys()) == ["run.1", "run.2"])
            try await kv.delete("run.2")
            #expect(try await kv.get("run.2") == nil)
            #expect(try await kv.keys() == ["run.1"])
            await #expect { try await kv.put("bad key", Lease(owner: "x", n: 0)) } throws: { ($0 as? NvisyError)?.kind == .invalidInput }
            // Reopen by name.
            let again = try await conn.jetStream.keyValue("leases", as: Lease.self)
            #expect(try await again.get("run.1")?.value.n == 2)
        }
    }

    @Test func unknownBucketIsNotFound() async throws {
        try await withNATS { conn, _ in
            await #expect { try await conn.jetStream.keyValue("missing", as: Lease.self) } throws: { ($0 as? NvisyError)?.kind == .notFound }
        }
    }

    @Test func ttlExpiresEntries() async throws {
        try await withNATS { conn, _ in
            // A TTL long enough that the read right after the put is inside it on a busy machine.
            let kv = try await conn.jetStream.ensureKeyValue(KeyValueConfig(bucket: "hb", ttl: .seconds(3)), as: Int.self)
            try await kv.put("worker.1", 1)
            #expect(try await kv.get("worker.1")?.value == 1)
            #expect(try await poll(timeout: .seconds(15)) { try await kv.get("worker.1") == nil })
        }
    }

    @Test(.timeLimit(.minutes(1))) func watchSeesUpdates() async throws {
        try await withNATS { conn, _ in
            let kv = try await conn.jetStream.ensureKeyValue(KeyValueConfig(bucket: "cfg"), as: String.self)
            try await kv.put("a", "one")
            let watch = try await kv.watch()
            let seen = Task {
                var out: [String] = []
                for try await change in watch {
                    switch change.operation {
                    case .put(let v): out.append("\(change.key)=\(v)")
                    case .delete: out.append("\(change.key) deleted")
                    case .purge: out.append("\(change.key) purged")
                    }
                    if out.count == 4 { break }
                }
                return out
            }
            try await Task.sleep(for: .milliseconds(200))
            try await kv.put("a", "two")
            try await kv.put("b", "three")
            try await kv.delete("a")
            let result = try await seen.value
            #expect(result == ["a=one", "a=two", "b=three", "a deleted"])
            watch.stop()
        }
    }
}
