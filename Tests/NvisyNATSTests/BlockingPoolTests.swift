import Foundation
import Testing
@testable import NvisyNATS

/// Eight calls that each block for 0.5 s must run side by side (a pool sized to
/// the CPU count would take 2 s on two cores), and never on the cooperative pool.
@Test func blockingCallsRunSideBySide() async throws {
    let start = ContinuousClock.now
    await withTaskGroup(of: Void.self) { g in
        for _ in 0..<8 { g.addTask { let _: Int = await Blocking.run { usleep(500_000); return 1 } } }
    }
    #expect(ContinuousClock.now - start < .milliseconds(1500))
}
