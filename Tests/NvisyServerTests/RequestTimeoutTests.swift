import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import Testing

@testable import NvisyServer

/// Request deadlines: a handler that overruns the timeout is stopped and answered 503; handlers
/// that finish in time never see the deadline; a cancelled wait ends at once.
@Suite struct RequestTimeoutTests {
    private static func app(timeout: Duration) -> some ApplicationProtocol {
        let router = Router(context: NvisyRequestContext.self)
        router.middlewares.add(ProblemMiddleware())
        router.middlewares.add(RequestLimitsMiddleware(maxBodyBytes: 1024, timeout: timeout))
        router.get("/fast") { _, _ in "fast" }
        router.get("/slow") { _, _ -> String in
            try await Task.sleep(for: .seconds(120))
            return "slow"
        }
        return Application(router: router)
    }

    @Test func aHandlerThatOverrunsIsStoppedWith503() async throws {
        try await Self.app(timeout: .milliseconds(300)).test(.router) { client in
            let start = ContinuousClock.now
            let response = try await client.execute(uri: "/slow", method: .get)
            let took = ContinuousClock.now - start
            #expect(response.status == .serviceUnavailable)
            #expect(String(buffer: response.body).contains("took longer"))
            // Fired after the timeout, and long before the handler's two minutes. Generous: the
            // whole suite shares two cores, and other suites block cooperative threads on purpose.
            #expect(took >= .milliseconds(300))
            #expect(took < .seconds(60))
        }
    }

    @Test func handlersThatFinishInTimeAreUntouched() async throws {
        try await Self.app(timeout: .seconds(3)).test(.router) { client in
            for _ in 0..<50 {
                let response = try await client.execute(uri: "/fast", method: .get)
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "fast")
            }
            // Long after their deadlines would have passed, nothing fires late on them.
            try await Task.sleep(for: .milliseconds(3500))
            #expect(try await client.execute(uri: "/fast", method: .get).status == .ok)
        }
    }

    @Test func theWatchResumesPassedDeadlinesAndCancelledWaits() async throws {
        let watch = DeadlineWatch(granularity: .milliseconds(10))
        let passed = await watch.sleep(until: ContinuousClock.now.advanced(by: .milliseconds(50)))
        #expect(passed)
        // A wait for an hour, cancelled: answers false promptly.
        let waiter = Task { await watch.sleep(until: ContinuousClock.now.advanced(by: .seconds(3600))) }
        try await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        waiter.cancel()
        #expect(await waiter.value == false)
        #expect(ContinuousClock.now - start < .seconds(30))  // not the hour; generous for a loaded machine
        // Many at once, each resumed after its own deadline.
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                let deadline = ContinuousClock.now.advanced(by: .milliseconds(20 + i % 40))
                group.addTask { await watch.sleep(until: deadline) && ContinuousClock.now >= deadline }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 200 && results.allSatisfy { $0 })
        // A task cancelled before it waits never suspends.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await watch.sleep(until: ContinuousClock.now.advanced(by: .seconds(3600)))
        }
        #expect(await early.value == false)
    }
}
