import Dispatch
import Foundation

/// The deadlines of one runner's calls in flight, watched by a single dispatch timer that is
/// re-armed for the earliest one. Adding a later deadline than the armed one costs a dictionary
/// insert; a finished call is removed and its deadline never fires (the timer may then wake for
/// nothing and re-arm itself for the next deadline).
///
/// `@unchecked Sendable`: every mutable field is read and written only with `lock` held; the
/// timer's handler takes the lock too and runs the due callbacks after releasing it.
final class CallWatchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [UInt64: (deadline: DispatchTime, fire: @Sendable () -> Void)] = [:]
    private var nextID: UInt64 = 0
    private var timer: DispatchSourceTimer?
    private var armed: DispatchTime = .distantFuture

    /// Watches `deadline`; `fire` runs (on a global queue) if the entry is still there then.
    func add(deadline: DispatchTime, fire: @escaping @Sendable () -> Void) -> UInt64 {
        lock.withLock {
            nextID += 1
            entries[nextID] = (deadline, fire)
            if deadline < armed { arm(deadline) }
            return nextID
        }
    }

    /// Forgets a deadline (its call finished).
    func remove(_ id: UInt64) {
        lock.withLock { _ = entries.removeValue(forKey: id) }
    }

    /// With `lock` held.
    private func arm(_ deadline: DispatchTime) {
        if timer == nil {
            let t = DispatchSource.makeTimerSource(queue: .global())
            t.setEventHandler { [weak self] in self?.tick() }
            t.activate()
            timer = t
        }
        armed = deadline
        timer?.schedule(deadline: deadline, leeway: .milliseconds(20))
    }

    private func tick() {
        let now = DispatchTime.now()
        let due: [@Sendable () -> Void] = lock.withLock {
            var fired: [@Sendable () -> Void] = []
            for (id, entry) in entries where entry.deadline <= now {
                fired.append(entry.fire)
                entries[id] = nil
            }
            armed = .distantFuture
            if let next = entries.values.map(\.deadline).min() { arm(next) }
            return fired
        }
        for fire in due { fire() }
    }

    deinit {
        timer?.setEventHandler {}
        timer?.cancel()
    }
}
