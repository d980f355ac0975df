import Foundation
import Testing
@testable import NvisyNATS

/// Thirty-two calls that each block for 0.5 s must run side by side (a pool sized to
/// the CPU count would take 8 s on two cores), and never on the cooperative pool. The bound
/// leaves room for a loaded machine (16 calls took 3.8 s beside builds).
@Test func blockingCallsRunSideBySide() async throws {
    let start = ContinuousClock.now
    await withTaskGroup(of: Void.self) { g in
        for _ in 0..<32 { g.addTask { let _: Int = await Blocking.run { usleep(500_000); return 1 } } }
    }
    #expect(ContinuousClock.now - start < .seconds(5))
}

/// Submits a job from its deinit, as `ObjectReadSession` does.
private final class SubmitsOnDeinit: @unchecked Sendable {
    let done: @Sendable () -> Void
    init(done: @escaping @Sendable () -> Void) { self.done = done }
    deinit { let done = self.done; Blocking.detach { done() } }
}

@Suite("Blocking pool: deinit inside a job")
struct BlockingPoolDeinitTests {
    @Test("a job holding the last reference to an object whose deinit submits a job does not deadlock the pool",
          .timeLimit(.minutes(1)))
    func deinitSubmitsJob() async throws {
        let finished = AsyncStream<Void>.makeStream()
        for _ in 0..<200 {
            var object: SubmitsOnDeinit? = SubmitsOnDeinit { finished.continuation.yield() }
            let captured = object!
            object = nil
            Blocking.detach { _ = captured }  // the pool drops `captured` after the job: deinit runs there
        }
        var count = 0
        let deadline = ContinuousClock.now + .seconds(20)
        for await _ in finished.stream {
            count += 1
            if count == 200 || ContinuousClock.now > deadline { break }
        }
        #expect(count == 200)
        // The pool still takes work.
        #expect(await Blocking.run { 42 } == 42)
    }
}
