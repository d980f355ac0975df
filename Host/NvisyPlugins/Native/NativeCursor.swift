import Foundation
import NvisyCore
import NvisyPluginABI

/// A cursor inside a plugin (from `read` or `transform`).
///
/// In `dedicatedThread` mode it reads one batch ahead: as soon as a batch is handed to the
/// caller, the next `next` call is started on a call thread, so the plugin produces (and the
/// host copies) batch k+1 while the caller works on batch k — a sink's write, say. The caller
/// then mostly finds its batch ready, and a pipeline uses two cores where a direct call uses
/// one. Reading ahead is safe under the ABI: the host keeps only copies, a source resumes
/// from the sink-acknowledged token, and `close_cursor` runs after the batch read ahead
/// (calls to an instance run in order), which is then dropped.
final class NativeCursor: BatchCursor, @unchecked Sendable {
    let instance: NativeProviderInstance
    let cursor: RawRef
    let ctx: CallContextBox
    let input: NativeBatchArena?
    private let lock = NSLock()
    /// Closed/ended, the `next` call started ahead, and items beyond a smaller `maxItems`.
    private var state = ReadAheadState<NativeCallRunner.Call<[ProviderItem]?>>()

    init(instance: NativeProviderInstance, cursor: RawRef, ctx: CallContextBox, input: NativeBatchArena?) {
        self.instance = instance
        self.cursor = cursor
        self.ctx = ctx
        self.input = input
    }

    deinit { close() }

    private func nextCall(_ maxItems: Int) throws -> @Sendable () -> Result<[ProviderItem]?, NvisyError> {
        guard let fn = instance.provider.p.next else { throw NvisyError.internal("\(instance.descriptor.id): no next function") }
        let id = instance.descriptor.id
        let c = cursor
        // The plugin's cursor may ask `is_cancelled` with this context: it must outlive the call
        // even when the cursor is dropped while a read-ahead is still running.
        let context = ctx
        return {
            var out = nvisy_batch(items: nil, count: 0)
            let o = withExtendedLifetime(context) { NativeOutcome(fn(c.raw, max(1, maxItems), &out)) }
            if o.isEnd { return .success(nil) }
            guard o.isOK else { return .failure(o.error("\(id): next")) }
            guard let items = CopiedBatch.items(out) else {
                return .failure(NvisyError(.unavailable, "\(id): next: out of memory copying a batch of \(out.count) items", retry: .transient))
            }
            return .success(items)
        }
    }

    func next(maxItems: Int) async throws -> [ProviderItem]? {
        let want = max(1, maxItems)
        let started: NativeCallRunner.Call<[ProviderItem]?>?
        switch lock.withLock({ state.begin(want: want) }) {
        case .stop: return nil
        case .items(let left): return left
        case .fetch(let call): started = call
        }
        let runner = instance.runner
        let result: [ProviderItem]?
        switch runner.options.isolation {
        case .callerThread:
            result = try await runner.run("next", ctx: ctx, try nextCall(want))
        case .dedicatedThread:
            if let started {
                result = try await runner.finish(started, measured: false)
            } else {
                try Task.checkCancellation()
                result = try await runner.finish(try runner.start("next", ctx: ctx, try nextCall(want)))
            }
        }
        guard var items = result else {
            lock.withLock { state.end() }
            return nil
        }
        if runner.options.isolation == .dedicatedThread {
            let body = try nextCall(want)
            lock.withLock {
                // Under the lock: `close` cannot post `close_cursor` ahead of this call.
                // A stuck instance reads nothing ahead; the caller hears about it next time.
                if !state.closed { state.ahead = try? runner.start("next", ctx: ctx, body) }
            }
        }
        lock.withLock { state.keepSurplus(of: &items, want: want) }
        return items
    }

    func close() {
        let first = lock.withLock { state.close().wasOpen }
        guard first, let fn = instance.provider.p.close_cursor else { return }
        let c = cursor
        // The context too: the plugin's cursor holds its pointer until close_cursor returns.
        let keep = (instance, input, ctx)
        instance.runner.post {
            fn(c.raw)
            _ = keep
        }
    }
}
