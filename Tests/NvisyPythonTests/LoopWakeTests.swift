import Foundation
import NvisyCore
import NvisyPlugins
import Testing

/// The Python thread spins for work, then parks; the host writes its eventfd only for a parked
/// thread (`PythonLoopWaker`). A job queued while the thread is running, spinning or going to
/// sleep must never be left waiting, and timers and sockets of providers must still wake it.
@Suite("The Python thread's spin and park")
struct LoopWakeTests {
    static let manifest = PyTest.manifest("wake", module: "nvisy_wake")

    /// Runs `body` and answers how long it took.
    static func timed(_ body: () async throws -> Void) async rethrows -> Duration {
        let start = ContinuousClock.now
        try await body()
        return ContinuousClock.now - start
    }

    @Test("many small calls from many tasks at once all finish (no job is lost between spin and park)")
    func concurrentCalls() async throws {
        // A lost job would wait for the 10 s timeout and fail with a timeout error.
        let host = try await PyTest.host(["wake.toml": Self.manifest], timeout: .seconds(10))
        let sink = try await host.makeSink("wake/echo", config: [:])
        let took = try await Self.timed {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for t in 0..<32 {
                    group.addTask {
                        for i in 0..<100 {
                            if (t + i) % 2 == 0 {
                                try await sink.check()
                            } else {
                                try await sink.write([ProviderItem(metadata: ["i": .number(Double(i))], resumeToken: Data("\(i)".utf8))])
                            }
                            // Now and then a pause long enough for the thread to go back to sleep.
                            if i % 25 == 0 { try await Task.sleep(for: .microseconds(Int64(200 + 37 * t))) }
                        }
                        return 100
                    }
                }
                var calls = 0
                for try await n in group { calls += n }
                #expect(calls == 3200)
            }
        }
        #expect(took < .seconds(8), "3200 small calls took \(took)")
        await sink.close()
    }

    @Test("a call after the thread has parked is answered promptly, again and again")
    func afterIdle() async throws {
        let host = try await PyTest.host(["wake.toml": Self.manifest], timeout: .seconds(10))
        let sink = try await host.makeSink("wake/echo", config: [:])
        for pause in [5, 50, 300] {
            try await Task.sleep(for: .milliseconds(pause))  // far past the 50 µs spin: parked
            let took = try await Self.timed { try await sink.check() }
            #expect(took < .seconds(2), "a call after \(pause) ms idle took \(took)")
        }
        await sink.close()
    }

    @Test("timers and sockets of a provider still wake the loop (short sleeps inside the spin window, longer ones parked)")
    func timersAndSockets() async throws {
        let host = try await PyTest.host(["wake.toml": Self.manifest], timeout: .seconds(10))
        for sleep in [0.00002, 0.003, 0.05] {
            let sink = try await host.makeSink("wake/echo", config: ["sleep": .number(sleep)])
            let took = try await Self.timed { try await sink.check() }
            #expect(took >= .seconds(sleep), "asyncio.sleep(\(sleep)) returned after \(took)")
            #expect(took < .seconds(sleep + 2), "asyncio.sleep(\(sleep)) took \(took)")
            await sink.close()
        }
        let echo = try await host.makeSink("wake/echo", config: ["socket": true])
        for _ in 0..<20 { try await echo.check() }
        await echo.close()
    }
}
