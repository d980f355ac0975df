import Foundation
import NvisyCore
import Synchronization
import Testing
@testable import NvisyPlugins

/// The default (`dedicatedThread`) call path: hot call threads, callers that spin for short
/// calls and suspend for long ones, and the policy that turns spinning off on a busy machine.
@Suite("Native call threads")
struct CallThreadTests {
    @Test("hung calls, more than the cooperative pool has threads, are all reported on time while other instances keep working")
    func hungCallsLeaveThePoolFree() async throws {
        let host = TestPlugins.host(try TestPlugins.pluginsDirectory(["trivial.toml": TestPlugins.trivial]))
        await host.reload()
        // Each write ignores cancellation and blocks its thread for 10 s. If a call ran on (or
        // waited on) a cooperative thread, the pool (one thread per core) would be exhausted
        // and neither the timeouts nor the source below could make progress for seconds.
        let hung = 3 * ProcessInfo.processInfo.activeProcessorCount + 2
        var sinks: [any SinkInstance] = []
        for _ in 0..<hung {
            sinks.append(try await host.makeSink("trivial/slow", config: ["ignoreCancel": true, "seconds": 10],
                                                 options: ProviderCallOptions(timeout: .milliseconds(100))))
        }
        let start = ContinuousClock.now
        let moved = try await withThrowingTaskGroup(of: Int.self) { group in
            for sink in sinks {
                group.addTask {
                    do {
                        try await sink.write([ProviderItem()])
                        Issue.record("a hung write must time out")
                    } catch let e as NvisyError {
                        #expect(e.message.contains("`write` exceeded its timeout"), "\(e.message)")
                    }
                    return 0
                }
            }
            group.addTask {
                // Meanwhile a healthy pipeline runs to its end.
                let source = try await host.makeSource("trivial/counter", config: ["count": 5000])
                let sink = try await host.makeSink("trivial/discard", config: ["expectItems": 5000])
                var n = 0
                for try await batch in source.read(batchSize: 64) {
                    try await sink.write(batch)
                    n += batch.count
                }
                try await sink.check()
                return n
            }
            return try await group.reduce(0, +)
        }
        #expect(moved == 5000)
        // Far below the 10 s a held pool would take, with room for a loaded machine.
        #expect(ContinuousClock.now - start < .seconds(6), "hung calls held the pool: \(ContinuousClock.now - start)")
        // Each hung instance refuses new calls until its call returns.
        await #expect(throws: NvisyError.self) { try await sinks[0].write([ProviderItem()]) }
    }

    @Test("calls to one instance from many tasks run one at a time, each answered")
    func oneAtATime() async throws {
        let host = TestPlugins.host(try TestPlugins.pluginsDirectory(["trivial.toml": TestPlugins.trivial]))
        await host.reload()
        let sink = try await host.makeSink("trivial/discard", config: ["expectItems": .number(64 * 200), "expectBytes": .number(64 * 200 * 3)])
        let item = ProviderItem(metadata: Data("{}".utf8), payload: Data([1, 2, 3]), vector: nil, resumeToken: Data())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask { try await sink.write(Array(repeating: item, count: 64)) }
            }
            try await group.waitForAll()
        }
        // The plugin's counters are not thread-safe: a lost update would show here.
        try await sink.check()
    }

    @Test("a call longer than the caller's spin suspends the caller and still returns its result")
    func longCall() async throws {
        let host = TestPlugins.host(try TestPlugins.pluginsDirectory(["trivial.toml": TestPlugins.trivial]))
        await host.reload()
        let sink = try await host.makeSink("trivial/slow", config: ["ignoreCancel": true, "seconds": 0.05],
                                           options: ProviderCallOptions(timeout: .seconds(10)))
        let start = ContinuousClock.now
        try await sink.write([ProviderItem()])
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        try await sink.write([ProviderItem()])  // not stuck
    }

    @Test("the spin policy blocks after a window of slow hand-offs, backs off, and tries again")
    func spinPolicy() {
        let policy = NativeSpinPolicy()
        var now: UInt64 = 1_000_000_000
        #expect(policy.shouldSpin(now: now))
        // Fast hand-offs keep it spinning.
        for _ in 0..<(4 * NativeSpinPolicy.window) { policy.record(overhead: 500, now: now) }
        #expect(policy.spinningNow)
        // A window with more than 1 in 8 slow hand-offs turns spinning off...
        for i in 0..<NativeSpinPolicy.window { policy.record(overhead: i % 4 == 0 ? 50_000 : 500, now: now) }
        #expect(!policy.spinningNow)
        #expect(!policy.shouldSpin(now: now + 1))
        // ...until the back-off passes; then one caller tries again.
        now += NativeSpinPolicy.minBackOff
        #expect(policy.shouldSpin(now: now))
        // A second failed try backs off twice as long.
        for _ in 0..<NativeSpinPolicy.window { policy.record(overhead: 50_000, now: now) }
        #expect(!policy.shouldSpin(now: now + NativeSpinPolicy.minBackOff))
        #expect(policy.shouldSpin(now: now + 2 * NativeSpinPolicy.minBackOff))
    }

    @Test("call threads run every queued job and survive a job that blocks")
    func callThreads() async throws {
        final class Job: NativeCallThreads.Work, Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
            func runOnCallThread() { body() }
        }
        let threads = NativeCallThreads()
        let blocker = DispatchSemaphore(value: 0)
        threads.schedule(Job { blocker.wait() })  // holds one thread
        let order = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        for i in 0..<100 {
            threads.schedule(Job {
                order.withLock { $0.append(i) }
                if i == 99 { done.signal() }
            })
        }
        let finished = await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: done.wait(timeout: .now() + 5) == .success) }
        }
        blocker.signal()
        #expect(finished, "work queued behind a blocked job never ran")
        #expect(order.withLock { $0.count } == 100)
    }

    @Test("a cursor that reads ahead yields every item once, in order, whatever maxItems each call asks, and closes early cleanly")
    func readAhead() async throws {
        let host = TestPlugins.host(try TestPlugins.pluginsDirectory(["trivial.toml": TestPlugins.trivial]))
        await host.reload()
        let source = try await host.makeSource("trivial/counter", config: ["count": 1000])
        let cursor = try await source.openCursor(after: nil)
        var tokens: [Int] = []
        // Shrinking and growing batch sizes: a batch read ahead for 100 must not be over-delivered to a call asking 7.
        for size in [100, 7, 7, 250, 1, 64, 1000] {
            guard let batch = try await cursor.next(maxItems: size) else { break }
            #expect(batch.count <= size && !batch.isEmpty)
            tokens += batch.map { Int(String(decoding: $0.resumeToken, as: UTF8.self))! }
        }
        while let batch = try await cursor.next(maxItems: 64) {
            tokens += batch.map { Int(String(decoding: $0.resumeToken, as: UTF8.self))! }
        }
        #expect(tokens == Array(0..<1000))
        #expect(try await cursor.next(maxItems: 64) == nil)
        cursor.close()
        // Closing with a batch read ahead and never taken.
        let early = try await source.openCursor(after: Data("499".utf8))
        let first = try #require(try await early.next(maxItems: 10))
        #expect(first.first.map { String(decoding: $0.resumeToken, as: UTF8.self) } == "500")
        early.close()
        #expect(try await early.next(maxItems: 10) == nil)
        await source.close()
    }
}
