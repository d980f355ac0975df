import Foundation
import NvisyCore
import Synchronization

/// One request sent to a plugin-host child, and its answer once it came: a one-shot future.
///
/// The request is sent by the thread that starts the call (no writer thread); the host's
/// reader thread completes it. Splitting "send" from "await the answer" is what lets a cursor
/// read one batch ahead (the `next` for batch k+1 is on its way while the caller writes batch
/// k). The reader thread resumes a parked caller straight from the socket; an answer that
/// arrives before anyone awaits it (a batch read ahead) is kept until it is asked for.
///
/// Why the caller does not poll for the answer before parking, as in-process callers do:
/// measured with scripts/bench-isolation.sh on the 2-core machine at load ≈ 12, a 60 µs poll
/// took the core the child needed and batch 64 fell from 0.63× to 0.29×.
final class ChildCall: Sendable {
    let op: IsolationOp
    let timeout: Duration?
    let deadline: ContinuousClock.Instant?
    /// A region slot of the host's side holding the request's blob, freed when the answer arrives.
    let hostSlot: Int?
    let onToken: (@Sendable (String) -> Void)?

    private enum State {
        case waiting
        case parked(CheckedContinuation<IsolationFrame, any Error>)
        case done(Result<IsolationFrame, any Error>)
    }

    private let state = Mutex(State.waiting)

    init(op: IsolationOp, timeout: Duration?, hostSlot: Int?, onToken: (@Sendable (String) -> Void)?) {
        self.op = op
        self.timeout = timeout
        self.deadline = timeout.map { .now + $0 }
        self.hostSlot = hostSlot
        self.onToken = onToken
    }

    /// Stores the answer (or the failure) and resumes the caller if it is parked. Only the first
    /// completion counts.
    func complete(_ result: Result<IsolationFrame, any Error>) {
        let parked: CheckedContinuation<IsolationFrame, any Error>? = state.withLock { s in
            switch s {
            case .done: return nil
            case .waiting:
                s = .done(result)
                return nil
            case .parked(let c):
                s = .done(result)
                return c
            }
        }
        parked?.resume(with: result)
    }

    /// The answer (`ok` or `end`); an `error` answer is thrown. Awaited once.
    var value: IsolationFrame {
        get async throws {
            let frame = try await withCheckedThrowingContinuation { (c: CheckedContinuation<IsolationFrame, any Error>) in
                let ready: Result<IsolationFrame, any Error>? = state.withLock { s in
                    if case .done(let r) = s { return r }
                    s = .parked(c)
                    return nil
                }
                if let ready { c.resume(with: ready) }
            }
            if frame.op == .error { throw NvisyError.fromWire(frame.body) }
            return frame
        }
    }
}
