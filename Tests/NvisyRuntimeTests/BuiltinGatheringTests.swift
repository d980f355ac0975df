import Foundation
import NvisyCore
import NvisyPlugins
import PostgresNIO
import Synchronization
import Testing
@testable import NvisyRuntime

/// A built-in that prefers bigger batches than its input brings (`embed`: a model's batch) gets
/// them from the executor; real source and sink (postgres/table) on real PostgreSQL.
@Suite("Builtin gathering", .serialized)
struct BuiltinGatheringTests {
    /// `batch`: passes items on unchanged and records the size of every batch it is given.
    final class Recording: BuiltinTransform {
        private let recorded = Mutex<[Int]>([])
        let preferredBatchSize: Int?
        init(preferred: Int?) { preferredBatchSize = preferred }
        var sizes: [Int] { recorded.withLock { $0 } }
        func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
            recorded.withLock { $0.append(items.count) }
            return items.map { .success([$0]) }
        }
    }

    static func run(rows: Int, pageSize: Int, preferred: Int?) async throws -> [Int] {
        let recording = Recording(preferred: preferred)
        // A window no page of the source takes on a loaded machine: every batch but the last is
        // then a full one (the 10 ms default sends a partial batch when a page is slower).
        try await runChain([("record", recording)], rows: rows, pageSize: pageSize, gatherWindow: .seconds(2))
        return recording.sizes
    }

    @Test("input in batches of 7, preferred 32: the transform gets batches of exactly 32 and then the rest; every row arrives once")
    func gathers() async throws {
        let sizes = try await Self.run(rows: 200, pageSize: 7, preferred: 32)  // every row written once: runChain
        #expect(sizes.reduce(0, +) == 200)
        #expect(sizes.dropLast().allSatisfy { $0 == 32 } && sizes.count == 7, "\(sizes)")
        // Without a preference, each input batch is applied as it comes.
        let plain = try await Self.run(rows: 50, pageSize: 7, preferred: nil)
        #expect(plain.max() == 7, "\(plain)")
    }

    /// `count`: passes items on unchanged, counting them.
    final class Counting: BuiltinTransform {
        let passed = Atomic<Int>(0)
        var preferredBatchSize: Int? { nil }
        func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
            passed.add(items.count, ordering: .relaxed)
            return items.map { .success([$0]) }
        }
    }

    /// `slow`: gathers 32; its first call lasts until `upstream` has passed on a batch (32) more
    /// than that call holds (or 5 s went by), and records whether that happened. The first call
    /// may hold fewer than 32 items (a quiet window on a loaded machine sends a partial batch).
    final class FirstCallWaits: BuiltinTransform {
        let upstream: Counting
        let reached = Mutex<Bool?>(nil)
        init(upstream: Counting) { self.upstream = upstream }
        var preferredBatchSize: Int? { 32 }
        func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
            if reached.withLock({ $0 == nil }) {
                let until = items.count + 32
                let deadline = ContinuousClock.now + .seconds(5)
                while upstream.passed.load(ordering: .relaxed) < until, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
                let passed = upstream.passed.load(ordering: .relaxed)
                reached.withLock { $0 = passed >= until }
            }
            return items.map { .success([$0]) }
        }
    }

    /// `rows` rows of a real source table (pages of `pageSize`) through `transforms`, in order,
    /// into a real sink table; expects the run to complete and every row to arrive once.
    static func runChain(_ transforms: [(name: String, transform: any BuiltinTransform)], rows: Int = 200, pageSize: Int,
                         gatherWindow: Duration = .milliseconds(10)) async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await ExecutorTests.sourceTable(client, rows)
            try await createPeopleTable(client, "dst")
            let catalog = BuiltinTransformCatalog(transforms.map { t in
                BuiltinTransformSpec(name: t.name, accepts: nil, produces: nil) { _, _ in .success(t.transform) }
            })
            let ids = ["in"] + transforms.map(\.name) + ["out"]
            let definition = PipelineDefinition(
                nodes: [.source("in", connection: "src")] + transforms.map { .transform($0.name, $0.name) } + [.sink("out", connection: "dst")],
                edges: zip(ids, ids.dropFirst()).map { .init(from: $0, to: $1) })
            let plan = try await PipelineCompiler(host: try await RuntimeTestSupport.host(), connections: StaticConnectionResolver([
                "src": tableConnection(url, "src", pageSize: pageSize), "dst": tableConnection(url, "dst")]), builtins: catalog).compile(definition)
            let result = await executor.run(plan, runId: UUID(), options: RunOptions(batchSize: pageSize, gatherWindow: gatherWindow))
            #expect(result.status == .completed, "\(String(describing: result.error))")
            #expect(try await client.int("SELECT count(*)::int FROM dst") == rows)
        }
    }

    @Test("a gathering node keeps receiving while its transform runs: the next batch is gathered during the call, not after it")
    func gathersDuringCall() async throws {
        let counting = Counting()
        // A batch's worth more upstream while the first call runs: only possible if this node
        // takes input during the call (the channel hands a batch over only to a receiver;
        // without that, upstream gets one batch of 7 ahead at most).
        let slow = FirstCallWaits(upstream: counting)
        try await Self.runChain([("count", counting), ("slow", slow)], pageSize: 7)
        #expect(slow.reached.withLock { $0 } == true)
    }

    /// `split`: gathers 32 and tells the executor its call is done at once; then the first batch
    /// makes its outputs only once the second batch's call has started (or 5 s went by), and
    /// records whether that happened.
    final class CallThenSlowOutputs: BuiltinTransform {
        let started = Atomic<Int>(0)
        let overlapped = Mutex<Bool?>(nil)
        var preferredBatchSize: Int? { 32 }
        func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
            items.map { .success([$0]) }
        }
        func apply(_ items: [ProviderItem], called: @Sendable () -> Void) async -> [Result<[ProviderItem], NvisyError>] {
            let call = started.add(1, ordering: .relaxed).newValue
            called()
            if call == 1 {
                let deadline = ContinuousClock.now + .seconds(5)
                while started.load(ordering: .relaxed) < 2, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
                overlapped.withLock { $0 = started.load(ordering: .relaxed) >= 2 }
            }
            return items.map { .success([$0]) }
        }
    }

    /// `ids`: passes items on unchanged, recording their `id` in the order they arrive.
    final class ArrivalOrder: BuiltinTransform {
        let ids = Mutex<[Int]>([])
        var preferredBatchSize: Int? { nil }
        func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
            let seen = items.compactMap { (try? $0.jsonMetadata())?["id"]?.doubleValue.map(Int.init) }
            ids.withLock { $0 += seen }
            return items.map { .success([$0]) }
        }
    }

    @Test("a gathering node starts the next call once the transform says its call is done, while the previous outputs are made; outputs still leave in order")
    func nextCallDuringOutputs() async throws {
        let split = CallThenSlowOutputs()
        let order = ArrivalOrder()
        try await Self.runChain([("split", split), ("ids", order)], pageSize: 50)
        // Before, the second call waited for the first batch's outputs to be passed on.
        #expect(split.overlapped.withLock { $0 } == true)
        // The first batch's outputs were made last, yet left first: ids arrive as the source read them.
        let ids = order.ids.withLock { $0 }
        #expect(ids == Array(0..<200), "\(ids.prefix(80))")
    }
}
