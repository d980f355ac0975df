import AsyncAlgorithms
import Foundation
import NvisyCore
import NvisyPlugins
import PostgresNIO
import Testing
@testable import NvisyRuntime

/// A sink gathering batches into bigger writes (`RunOptions.sinkBatchSize`), on real
/// PostgreSQL with the real postgres/table plugin: a trigger logs each written row's
/// transaction id, so the tests count the sink's transactions.
@Suite("Sink gathering", .serialized)
struct SinkGatheringTests {
    /// `dst` (createPeopleTable) plus `dst_tx`: the transaction of every row written.
    static func createLoggedTable(_ client: PostgresClient) async throws {
        try await createPeopleTable(client, "dst")
        try await client.exec("CREATE TABLE dst_tx (tx bigint NOT NULL)")
        try await client.exec("""
            CREATE FUNCTION dst_tx_log() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO dst_tx VALUES (txid_current()); RETURN NEW; END $$
            """)
        try await client.exec("CREATE TRIGGER dst_tx_log AFTER INSERT OR UPDATE ON dst FOR EACH ROW EXECUTE FUNCTION dst_tx_log()")
    }

    /// `src` with `n` rows, and `slow_src`: the same rows at `millis` ms each (a slow source).
    static func createSources(_ client: PostgresClient, _ n: Int, millis: Int = 10) async throws {
        try await ExecutorTests.sourceTable(client, n)
        try await client.exec("CREATE VIEW slow_src AS SELECT * FROM src WHERE pg_sleep(\(Double(millis) / 1000)) IS NOT NULL")
    }

    static func plan(_ url: String, source: String, pageSize: Int) async throws -> ExecutionPlan {
        try await compile(ExecutorTests.copyTable, ["src": tableConnection(url, source, pageSize: pageSize), "dst": tableConnection(url, "dst")])
    }

    @Test("batches of 100 gathered into writes of 1000: every row once, one transaction per 1000 rows")
    func gathers() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await Self.createLoggedTable(client)
            try await Self.createSources(client, 5000)
            let options = RunOptions(batchSize: 100, sinkBatchSize: 1000, sinkFlushInterval: .seconds(30))
            let result = await executor.run(try await Self.plan(url, source: "src", pageSize: 100), runId: UUID(), options: options)
            #expect(result.status == .completed, "\(String(describing: result.error))")
            #expect(try await client.int("SELECT count(*)::int FROM dst") == 5000)
            #expect(try await client.int("SELECT count(*)::int FROM dst_writes") == 5000)
            #expect(try await client.int("SELECT count(DISTINCT tx)::int FROM dst_tx") == 5)
            #expect(result.progress.nodes.first { $0.nodeId == "out" }?.written == 5000)
            // Memory stays bounded: the write under way, what the sink holds, a few batches on the way.
            #expect(result.progress.maxInFlight <= 2 * 1000 + 3 * 100, "max in flight \(result.progress.maxInFlight)")
        }
    }

    @Test("a slow source: the sink writes what it holds every flush interval, not only when full")
    func flushesOnTime() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await Self.createLoggedTable(client)
            try await Self.createSources(client, 80)  // 10 ms a row: about 0.8 s in all
            let options = RunOptions(batchSize: 10, progressInterval: .milliseconds(20), sinkBatchSize: 100_000,
                                     sinkFlushInterval: .milliseconds(150))
            let run = executor.start(try await Self.plan(url, source: "slow_src", pageSize: 10), runId: UUID(), options: options)
            var writtenWhileRunning = 0
            for await p in run.progress() where p.status == .running { writtenWhileRunning = max(writtenWhileRunning, p.written) }
            let result = await run.wait()
            #expect(result.status == .completed, "\(String(describing: result.error))")
            #expect(try await client.int("SELECT count(*)::int FROM dst") == 80)
            #expect(try await client.int("SELECT count(*)::int FROM dst_writes") == 80)
            #expect(try await client.int("SELECT count(DISTINCT tx)::int FROM dst_tx") >= 3)
            #expect(writtenWhileRunning > 0, "nothing was written before the source ended")
        }
    }

    @Test("cancel while the sink holds rows: none of them is acknowledged; the resumed run writes every row once")
    func cancelWhileHolding() async throws {
        try await withRuntimeDatabase { url, client, executor in
            try await Self.createLoggedTable(client)
            try await Self.createSources(client, 60)
            let plan = try await Self.plan(url, source: "slow_src", pageSize: 10)
            let runId = UUID()
            let options = RunOptions(batchSize: 10, checkpointEveryItems: 1, progressInterval: .milliseconds(20), sinkBatchSize: 100_000,
                                     sinkFlushInterval: .seconds(60))
            let run = executor.start(plan, runId: runId, options: options)
            for await p in run.progress() where (p.nodes.first { $0.nodeId == "in" }?.read ?? 0) >= 20 { break }
            run.cancel()
            let cancelled = await run.wait()
            #expect(cancelled.status == .cancelled)
            #expect(try await client.int("SELECT count(*)::int FROM dst") == 0)
            #expect(try await executor.checkpoints.checkpoints(run: runId)["in"] == nil, "the checkpoint passed rows never written")
            let resumed = await executor.run(plan, runId: runId, options: options)
            #expect(resumed.status == .completed, "\(String(describing: resumed.error))")
            #expect(try await client.int("SELECT count(*)::int FROM dst") == 60)
            #expect(try await client.int("SELECT count(*)::int FROM dst_writes") == 60)
        }
    }

    @Test("timed receive: a batch sent in time, nothing within the timeout, a finished channel")
    func timedReceive() async throws {
        let channel = AsyncChannel<[Flow]>()
        let sender = Task { await channel.send([Flow(item: ProviderItem(metadata: Data("{}".utf8)), lineage: .none)]) }
        guard case .batch(let b) = await NodeRunner.receive(from: channel, within: .seconds(5)) else {
            Issue.record("expected the batch sent")
            return
        }
        #expect(b.count == 1)
        await sender.value
        let clock = ContinuousClock()
        let start = clock.now
        guard case .timedOut = await NodeRunner.receive(from: channel, within: .milliseconds(100)) else {
            Issue.record("expected a timeout")
            return
        }
        #expect(clock.now - start >= .milliseconds(100))
        // The channel still works after a timed-out receive.
        let again = Task { await channel.send([]) }
        guard case .batch = await NodeRunner.receive(from: channel, within: .seconds(5)) else {
            Issue.record("expected the second batch")
            return
        }
        await again.value
        channel.finish()
        guard case .finished = await NodeRunner.receive(from: channel, within: .seconds(5)) else {
            Issue.record("expected the end")
            return
        }
    }
}
