import Foundation
import Logging
import NvisyCore
import NvisyPlugins

/// Runs one node of a plan: pulls batches from its inbox (or its provider, for a source),
/// does its work item at a time, and sends what it makes to the inboxes of its successors.
struct NodeRunner: Sendable {
    let step: ExecutionPlan.Step
    let state: RunState
    let instance: (any ProviderInstance)?
    let inbox: Inbox?
    /// Where items go: for a switch, by port; otherwise everything under "".
    let targets: [String: [Inbox]]
    let logger: Logger

    var options: RunOptions { state.options }
    var counters: NodeCounters { state.counters[step.id]! }

    func run() async throws {
        defer { for list in targets.values { for t in list { t.producerDone() } } }
        switch step.operation {
        case .source: try await runSource()
        case .sink:
            // The run's setting, else the sink's own preference (e.g. workspace/chunks: a write
            // per few thousand chunks rather than per document).
            let limit = options.sinkBatchSize ?? (instance as? any SinkInstance)?.preferredWriteSize
            if let limit, limit > options.batchSize { try await runGatheringSink(limit: limit) }
            else { try await each { try await write($0[...]) } }
        case .providerTransform:
            // Objects and documents are big and expand into many items: one per call, so each
            // output holds only its own source item back from the checkpoint.
            let single = step.inputType == .object || step.inputType == .document
            try await each { flows in
                if single { for f in flows { try await transform([f][...]) } } else { try await transform(flows[...]) }
            }
        case .builtin(_, let t):
            if let size = t.preferredBatchSize, size > 1 { try await runGatheringBuiltin(t, size: size) }
            else { try await each { try await builtin(t, $0) } }
        case .switch(let cases): try await each { try await route(cases, $0) }
        }
    }

    /// Each batch of the inbox, counted.
    private func each(_ body: ([Flow]) async throws -> Void) async throws {
        guard let inbox else { return }
        for await batch in inbox.channel {
            state.received(batch.count)
            counters.read.add(batch.count, ordering: .relaxed)
            try Task.checkCancellation()
            try await body(batch)
        }
        try Task.checkCancellation()
    }

    /// Sends `flows` to every target (a copy each); items with no target are done.
    private func send(_ flows: [Flow], to list: [Inbox]) async throws {
        guard !flows.isEmpty else { return }
        guard !list.isEmpty else {
            for f in flows { f.lineage.release() }
            return
        }
        for _ in 1..<list.count { for f in flows { f.lineage.retain() } }
        for t in list {
            state.sent(flows.count)
            await t.channel.send(flows)
            try Task.checkCancellation()
        }
    }

    private func send(_ flows: [Flow]) async throws {
        let list = targets[""] ?? []
        var start = 0
        while start < flows.count {
            let end = min(flows.count, start + options.batchSize)
            try await send(start == 0 && end == flows.count ? flows : Array(flows[start..<end]), to: list)
            start = end
        }
    }

    // MARK: Kinds

    private func runSource() async throws {
        guard let source = instance as? any SourceInstance, let tracker = state.trackers[step.id] else { return }
        var token = tracker.snapshot.token
        var attempt = 1
        if let expected = await source.estimatedItems(after: token) { counters.expected.store(expected, ordering: .relaxed) }
        while true {
            do {
                let size = step.outputType == .object || step.outputType == .document ? options.objectBatchSize : options.batchSize
                for try await batch in source.read(after: token, batchSize: size) {
                    try Task.checkCancellation()
                    attempt = 1
                    let flows = batch.map { Flow(item: $0, lineage: .one(tracker.ticket(token: Data($0.resumeToken)))) }
                    counters.read.add(flows.count, ordering: .relaxed)
                    counters.written.add(flows.count, ordering: .relaxed)
                    token = Data(batch[batch.count - 1].resumeToken)
                    try await send(flows)
                }
                return
            } catch {
                let e = try classify(error)
                guard e.retry == .transient, attempt < options.retry.maxAttempts else {
                    throw RunFailure(error: NvisyError(e.kind, "source \"\(step.id)\": \(e.message)", retry: e.retry))
                }
                logger.debug("source read failed, reopening", metadata: ["node": "\(step.id)", "attempt": "\(attempt)", "error": "\(e.message)"])
                try await Task.sleep(for: options.retry.backoff(after: attempt))
                attempt += 1
            }
        }
    }

    /// Writes `flows` in one call (retrying transient errors, halving the batch to find the
    /// item at fault on a permanent one), then lets them go.
    func write(_ flows: ArraySlice<Flow>) async throws {
        guard let sink = instance as? any SinkInstance, !flows.isEmpty else { return }
        var attempt = 1
        while true {
            do {
                try await sink.write(flows.map(\.item))
                counters.written.add(flows.count, ordering: .relaxed)
                for f in flows { f.lineage.release() }
                return
            } catch {
                let e = try classify(error)
                if e.retry == .transient {
                    guard attempt < options.retry.maxAttempts else {
                        throw RunFailure(error: NvisyError(e.kind, "sink \"\(step.id)\": still failing after \(attempt) attempts: \(e.message)", retry: .transient))
                    }
                    logger.debug("sink write failed, retrying", metadata: ["node": "\(step.id)", "attempt": "\(attempt)", "error": "\(e.message)"])
                    try await Task.sleep(for: options.retry.backoff(after: attempt))
                    attempt += 1
                    continue
                }
                // Permanent: find the item(s) at fault by halving the batch.
                if flows.count > 1 {
                    let mid = flows.startIndex + flows.count / 2
                    try await write(flows[..<mid])
                    try await write(flows[mid...])
                } else {
                    try state.fail(node: step.id, flow: flows[flows.startIndex], error: e)
                }
                return
            }
        }
    }

    private func transform(_ flows: ArraySlice<Flow>) async throws {
        guard let provider = instance as? any TransformInstance, !flows.isEmpty else { return }
        let lineage = Lineage.union(Array(flows))
        let items = flows.map(\.item)
        var attempt = 1
        var emitted = 0
        var position = 0  // outputs made so far, skipped ones included
        while true {
            do {
                for try await batch in provider.outputs(of: items, batchSize: options.batchSize) {
                    try Task.checkCancellation()
                    var out: [Flow] = []
                    out.reserveCapacity(batch.count)
                    if let source = expansionTicket(lineage) {
                        // One ticket per output, so the checkpoint can pass part of the source item;
                        // outputs complete before a resume are skipped, not written again.
                        for (i, item) in batch.enumerated() where !source.tracker.skips(source.seq, index: position + i) {
                            out.append(Flow(item: item, lineage: .one(Ticket(derivedFrom: source, index: position + i))))
                        }
                    } else {
                        for item in batch {
                            lineage.retain()
                            out.append(Flow(item: item, lineage: lineage))
                        }
                    }
                    emitted += out.count
                    position += batch.count
                    counters.written.add(out.count, ordering: .relaxed)
                    try await send(out)
                }
                for f in flows { f.lineage.release() }
                return
            } catch {
                let e = try classify(error)
                if e.retry == .transient {
                    guard emitted == 0, attempt < options.retry.maxAttempts else {
                        throw RunFailure(error: NvisyError(e.kind, "transform \"\(step.id)\": \(e.message)", retry: .transient))
                    }
                    try await Task.sleep(for: options.retry.backoff(after: attempt))
                    attempt += 1
                    continue
                }
                if emitted == 0, flows.count > 1 {
                    let mid = flows.startIndex + flows.count / 2
                    try await transform(flows[..<mid])
                    try await transform(flows[mid...])
                } else {
                    for f in flows { try state.fail(node: step.id, flow: f, error: e) }
                }
                return
            }
        }
    }

    /// The source item's ticket when this node expands its source's items one at a time.
    private func expansionTicket(_ lineage: Lineage) -> Ticket? {
        guard let tracker = state.expanders[step.id], case .one(let t) = lineage, t.parent == nil, t.tracker === tracker else { return nil }
        return t
    }

    /// Applies `t` to `flows` and passes the outputs on; in a gathering node, `turn` tells when
    /// the transform's call is done and holds the outputs back until the batch before has gone.
    func builtin(_ t: any BuiltinTransform, _ flows: [Flow], turn: BatchTurn? = nil) async throws {
        var results = await t.apply(flows.map(\.item), called: { turn?.called.fire() })
        var attempt = 1
        while attempt < options.retry.maxAttempts {
            let again = results.indices.filter { if case .failure(let e) = results[$0] { e.retry == .transient } else { false } }
            if again.isEmpty { break }
            try await Task.sleep(for: options.retry.backoff(after: attempt))
            attempt += 1
            let retried = await t.apply(again.map { flows[$0].item })
            for (i, r) in zip(again, retried) { results[i] = r }
        }
        var out: [Flow] = []
        out.reserveCapacity(flows.count)
        for (flow, result) in zip(flows, results) {
            switch result {
            case .success(let items):
                if items.isEmpty { flow.lineage.release(); continue }
                for (j, item) in items.enumerated() {
                    if j > 0 { flow.lineage.retain() }
                    out.append(Flow(item: item, lineage: flow.lineage))
                }
            case .failure(let e):
                try state.fail(node: step.id, flow: flow, error: e)
            }
        }
        if let turn {
            await turn.previous?.wait()
            try Task.checkCancellation()
        }
        counters.written.add(out.count, ordering: .relaxed)
        try await send(out)
    }

    private func route(_ cases: [(port: String, predicate: Predicate)], _ flows: [Flow]) async throws {
        var byPort: [String: [Flow]] = [:]
        for flow in flows {
            let meta: JSONValue
            do { meta = try flow.item.jsonMetadata() } catch {
                try state.fail(node: step.id, flow: flow, error: error)
                continue
            }
            let port = cases.first { $0.predicate.evaluate(meta, payload: flow.item.payload) }?.port ?? "default"
            byPort[port, default: []].append(flow)
        }
        for (port, list) in byPort.sorted(by: { $0.key < $1.key }) {
            let to = targets[port] ?? []
            if !to.isEmpty { counters.written.add(list.count, ordering: .relaxed) }
            try await send(list, to: to)
        }
    }

    /// The error as an ``NvisyError``; rethrows cancellation.
    private func classify(_ error: any Error) throws -> NvisyError {
        if error is CancellationError || Task.isCancelled { throw CancellationError() }
        if let f = error as? RunFailure { throw f }
        if let e = error as? NvisyError { return e }
        return NvisyError(.internal, "\(error)", retry: .permanent)
    }
}

extension RunState {
    /// Records a permanent error for `flow`'s item, then lets it go; fails the run past the budget.
    func fail(node: String, flow: Flow, error: NvisyError) throws {
        let over = record(node: node, item: flow.item, error: error)
        flow.lineage.release()
        if let over { throw RunFailure(error: over) }
    }
}
