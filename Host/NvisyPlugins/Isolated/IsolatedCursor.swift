import Foundation
import NvisyCore

/// A cursor in a plugin-host child. It belongs to the child that opened it: when that child
/// dies, `next` fails with its transient error and the runtime reopens after the last token.
///
/// It reads one batch ahead, as ``NativeCursor`` does in process: as soon as a batch is handed
/// to the caller, the `next` for the following one is sent, so the child produces batch k+1
/// (and the socket carries it) while the caller works on batch k — typically a sink's write to
/// the same child. Safe for the same reasons as in process: the host keeps only copies, a
/// source resumes from the sink-acknowledged token, and a batch read ahead of a cursor that is
/// closed is dropped (its slot given back) before `closeCursor` is sent, so the child never
/// closes a cursor while its `next` runs.
///
/// `@unchecked Sendable`: `state` is guarded by `lock`; the rest is immutable.
final class IsolatedCursor: BatchCursor, @unchecked Sendable {
    let child: PluginChildProcess
    let id: UInt32
    let timeout: Duration?
    let instance: IsolatedProviderInstance
    private let lock = NSLock()
    /// Closed/ended, the `next` sent ahead, and items beyond a smaller `maxItems`.
    private var state = ReadAheadState<ChildCall>()

    init(child: PluginChildProcess, id: UInt32, timeout: Duration?, instance: IsolatedProviderInstance) {
        self.child = child
        self.id = id
        self.timeout = timeout
        self.instance = instance
    }

    deinit { close() }

    private func request(_ maxItems: Int) -> Data {
        var w = WireWriter()
        w.u32(id)
        w.u32(maxItems)
        return w.data
    }

    func next(maxItems: Int) async throws -> [ProviderItem]? {
        let want = max(1, maxItems)
        let started: ChildCall?
        switch lock.withLock({ state.begin(want: want) }) {
        case .stop: return nil
        case .items(let left): return left
        case .fetch(let call): started = call
        }
        let answer = try await (started ?? child.start(.next, body: request(want), timeout: timeout)).value
        if answer.op == .end {
            lock.withLock { state.end() }
            return nil
        }
        var r = WireReader(answer.body)
        let child = self.child
        let (decoded, slot) = try RegionBlob.get(&r, region: child.region) { try IsolatedBatchCodec.decode($0) }
        var items = decoded
        let released: Bool = lock.withLock {
            state.keepSurplus(of: &items, want: want)
            // Under the lock: `close` cannot send `closeCursor` ahead of this request. The slot
            // just copied goes back to the child in the same send.
            guard !state.closed else { return false }
            state.ahead = child.start(.next, body: request(want), timeout: timeout, releasing: slot)
            return true
        }
        if !released, let slot { child.post(.release, body: IsolatedProviderInstance.id(UInt32(slot))) }
        return items
    }

    func close() {
        let (first, pending) = lock.withLock { state.close() }
        guard first else { return }
        let child = child
        let body = IsolatedProviderInstance.id(id)
        guard let pending else {
            child.post(.closeCursor, body: body)
            return
        }
        // The batch read ahead is not wanted: give its slot back once it is here, then close.
        Task {
            if let answer = try? await pending.value, answer.op == .ok {
                var r = WireReader(answer.body)
                if let (_, slot) = try? RegionBlob.get(&r, region: child.region, { _ in () }), let slot {
                    child.post(.release, body: IsolatedProviderInstance.id(UInt32(slot)))
                }
            }
            child.post(.closeCursor, body: body)
        }
    }
}
