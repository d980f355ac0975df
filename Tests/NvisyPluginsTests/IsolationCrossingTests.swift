import Foundation
import NvisyCore
import Testing
@testable import NvisyPlugins

/// How calls cross to a plugin-host child (issue 11's crossing work): batch calls served on
/// the child's reader thread, cursors reading one batch ahead — and what must still hold.
/// Real child processes and the real dlopen'd trivial plugin.
@Suite("Isolation crossing")
struct IsolationCrossingTests {
    static func isolatedTrivial() async throws -> PluginHost {
        let dir = try TestPlugins.pluginsDirectory(["trivial.toml": IsolationTests.manifest("trivial", "libNvisyTrivialPlugin.so")])
        let host = TestPlugins.host(dir)
        let report = await host.reload()
        #expect(report.failed.isEmpty, "\(report.plugins.compactMap(\.error))")
        return host
    }

    @Test("a slow sink stops holding up the other calls of its plugin process")
    func slowCallsLeaveTheReaderThread() async throws {
        let host = try await Self.isolatedTrivial()
        // Both instances live in the one child of the plugin.
        let slow = try await host.makeSink("trivial/slow", config: ["seconds": 0.15, "ignoreCancel": true])
        let source = try await host.makeSource("trivial/counter", config: ["count": 4000])
        let writes = 30
        let slowDone = Task { () -> ContinuousClock.Instant in
            for _ in 0..<writes { try await slow.write([ProviderItem()]) }
            return .now
        }
        // Reads of 64 items: 63 `next` calls. Were each to wait behind a 150 ms write on the
        // child's reader thread, they would take longer than the 30 writes (4.5 s); once the
        // slow instance's calls run as tasks they finish long before (4.5 s leaves room for
        // 63 round trips on a machine loaded by the rest of the suite).
        try await Task.sleep(for: .milliseconds(20))
        var n = 0
        for try await b in source.read(batchSize: 64) { n += b.count }
        let readDone = ContinuousClock.now
        let slowEnd = try await slowDone.value
        #expect(n == 4000)
        #expect(readDone < slowEnd, "the reads finished \(readDone - slowEnd) after the slow writes")
        #expect(try await host.plugin(named: "trivial").restarts == 0)
    }

    @Test("cursors closed with a batch read ahead give its shared-memory slot back; the child never crashes")
    func closeWithReadAhead() async throws {
        let host = try await Self.isolatedTrivial()
        // 200-byte payloads: a batch of 64 is > 4 KiB, so it crosses in a slot of the child's side.
        let source = try await host.makeSource("trivial/counter", config: ["count": 100_000, "payloadSize": 200])
        // More cursors than the child has slots (16): a slot kept by each dropped read-ahead would use them all.
        for _ in 0..<(3 * SharedRegion.slotsPerSide) {
            let cursor = try await source.openCursor(after: nil)
            let batch = try #require(try await cursor.next(maxItems: 64))
            #expect(batch.count == 64 && batch[0].resumeTokenString == "0")
            cursor.close()
        }
        // A fresh `next`, sent straight to the child: its batch must come in a slot again.
        let cursor = try #require(try await source.openCursor(after: nil) as? IsolatedCursor)
        let child = cursor.child
        var inSlot = false
        let deadline = ContinuousClock.now + .seconds(10)
        while !inSlot, ContinuousClock.now < deadline {
            var w = WireWriter()
            w.u32(cursor.id)
            w.u32(64)
            let answer = try await child.call(.next, body: w.data, timeout: .seconds(10))
            var r = WireReader(answer.body)
            let (_, slot) = try RegionBlob.get(&r, region: child.region) { _ in () }
            if let slot {
                inSlot = true
                child.post(.release, body: IsolatedProviderInstance.id(UInt32(slot)))
            } else {
                try await Task.sleep(for: .milliseconds(50))  // the closes' releases may still be on their way
            }
        }
        #expect(inSlot, "every slot of the child's side stayed taken")
        cursor.close()
        #expect(try await host.plugin(named: "trivial").restarts == 0)
        // And the plugin still moves a whole flow.
        let sink = try await host.makeSink("trivial/discard", config: ["expectItems": 5000, "expectBytes": .number(Double(5000 * 200))])
        let small = try await host.makeSource("trivial/counter", config: ["count": 5000, "payloadSize": 200])
        #expect(try await IsolationTests.flow(small, sink) == 5000)
        try await sink.check()
    }
}
