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
        // A lost job waits for the 30 s timeout and fails its call with a timeout error. (No bound
        // on the total time: other suites share the one Python thread.)
        let host = try await PyTest.host(["wake.toml": Self.manifest], timeout: .seconds(30))
        let sink = try await host.makeSink("wake/echo", config: [:])
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
        await sink.close()
    }

    @Test("a call after the thread has parked is answered promptly, again and again")
    func afterIdle() async throws {
        // A call whose job waits behind a sleeping thread times out (10 s) and throws. The bound
        // below is looser than that only because other suites share the Python thread.
        let host = try await PyTest.host(["wake.toml": Self.manifest], timeout: .seconds(10))
        let sink = try await host.makeSink("wake/echo", config: [:])
        for pause in [5, 50, 300] {
            try await Task.sleep(for: .milliseconds(pause))  // far past the 50 µs spin: parked
            let took = try await Self.timed { try await sink.check() }
            #expect(took < .seconds(9), "a call after \(pause) ms idle took \(took)")
        }
        await sink.close()
    }

    @Test("timers and sockets of a provider still wake the loop (short sleeps inside the spin window, longer ones parked)")
    func timersAndSockets() async throws {
        // A timer that never fired would end in the 30 s timeout's error; no tighter bound,
        // because other suites share the one Python thread (a model load holds it for seconds).
        let host = try await PyTest.host(["wake.toml": Self.manifest], timeout: .seconds(30))
        for sleep in [0.00002, 0.003, 0.05] {
            let sink = try await host.makeSink("wake/echo", config: ["sleep": .number(sleep)])
            let took = try await Self.timed { try await sink.check() }
            #expect(took >= .seconds(sleep), "asyncio.sleep(\(sleep)) returned after \(took)")
            await sink.close()
        }
        let echo = try await host.makeSink("wake/echo", config: ["socket": true])
        for _ in 0..<20 { try await echo.check() }
        await echo.close()
    }
}
