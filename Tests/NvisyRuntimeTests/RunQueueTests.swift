import Foundation
import Logging
import NvisyCore
import NvisyNATS
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing
@testable import NvisyRuntime

/// The run queue end to end on a real nats-server and PostgreSQL: runs queued on JetStream,
/// claimed by a worker through its lease, executed, reported, taken over after a worker dies.
@Suite("Runtime: run queue and workers", .serialized)
struct RunQueueTests {
    struct Env {
        let url: String
        let client: PostgresClient
        let executor: PipelineExecutor
        let nats: NATSRuntime
        let workspace: UUID
        var runs: RunRepository { RunRepository(client: client, logger: RuntimeTestSupport.logger) }
        var jetStream: JetStream { nats.connection.jetStream }

        func worker(_ id: String, _ connections: [String: ResolvedConnection], lease: Duration = .seconds(3),
                    options: RunOptions = RunOptions(batchSize: 100)) -> RunWorker {
            RunWorker(runs: runs, jetStream: jetStream, executor: executor, resolver: { _ in StaticConnectionResolver(connections) },
                      settings: RunWorkerSettings(workerID: id, concurrency: 2, lease: lease, heartbeat: .milliseconds(200),
                                                  ackWait: .seconds(4), maxAttempts: 3, orphanScan: .seconds(2), runOptions: options),
                      logger: RuntimeTestSupport.logger)
        }

        func queue(_ definition: PipelineDefinition) async throws -> UUID {
            let json = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
            let run = try await runs.create(NewRun(workspaceID: workspace, pipelineID: nil, pipelineName: "people", definitionJSON: json, createdBy: nil))
            try await RunQueue.enqueue(run.id, on: jetStream)
            return run.id
        }

        /// Polls the run until `done` holds (default: a final status), at most `timeout`.
        func wait(_ id: UUID, timeout: Duration = .seconds(60), until done: (RunRecord) -> Bool = { $0.status.isFinal }) async throws -> RunRecord {
            let deadline = ContinuousClock.now + timeout
            while true {
                let run = try #require(try await runs.find(id: id))
                if done(run) || ContinuousClock.now > deadline { return run }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    func withEnv(_ body: (Env) async throws -> Void) async throws {
        try await withRuntimeDatabase { url, client, executor in
            let nats = try await NATSRuntime.start(url: nil, storeDirectory: try RuntimeTestSupport.tempDirectory("nats"), logger: RuntimeTestSupport.logger)
            let workspace = UUID()
            try await client.exec("INSERT INTO workspaces (id, name) VALUES ('\(workspace.uuidString)', 'W')")
            do {
                try await body(Env(url: url, client: client, executor: executor, nats: nats, workspace: workspace))
            } catch {
                await nats.shutdown()
                throw error
            }
            await nats.shutdown()
        }
    }

    func running(_ worker: RunWorker) -> Task<Void, Never> {
        Task { try? await worker.run() }
    }

    func stop(_ task: Task<Void, Never>, _ worker: RunWorker) async {
        // Like a graceful shutdown: runs stop and are handed back, then the loop ends.
        worker.stopAllRuns()
        await task.value
    }

    @Test("a queued run is pulled, executed and ended by a worker: counts, item errors and pipeline.run.* events recorded")
    func executesQueuedRun() async throws {
        try await withEnv { env in
            try await createPeopleTable(env.client, "people")
            let dir = try writeCSVs(files: 2, rows: 500, badEvery: 100)
            let worker = env.worker("w1", ["files": filesConnection(dir), "table": tableConnection(env.url, "people")])
            let task = running(worker)
            let id = try await env.queue(csvPipeline())
            let run = try await env.wait(id)
            await stop(task, worker)
            #expect(run.status == .completed, "\(run.error ?? "")")
            #expect(run.attempts == 1)
            #expect(run.itemsWritten == 990)
            #expect(run.itemsFailed == 10)
            #expect(run.workerID == "w1")
            #expect(run.finishedAt != nil && run.startedAt != nil)
            #expect(try await env.client.int("SELECT count(*) FROM people") == 990)
            let errors = try await PostgresCheckpointStore(client: env.client, logger: RuntimeTestSupport.logger).errors(run: id, limit: 100, after: nil)
            #expect(errors.items.count == 10)
            #expect(errors.items.allSatisfy { $0.nodeId == "out" && $0.retry == .permanent })
            let progress = try #require(run.progressJSON)
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let snapshot = try decoder.decode(RunProgress.self, from: Data(progress.utf8))
            #expect(snapshot.nodes.map(\.nodeId) == ["in", "csv", "out"])
            #expect(snapshot.nodes.last?.written == 990)
            let types = try await env.client.query("SELECT type FROM events WHERE payload->>'runId' = \(id.uuidString.lowercased()) ORDER BY created_at",
                                                   logger: RuntimeTestSupport.logger)
            var seen: [String] = []
            for try await t in types.decode(String.self) { seen.append(t) }
            #expect(seen == ["pipeline.run.status_changed", "pipeline.run.completed"])
        }
    }

    @Test("a dead worker's run is taken over once its lease expires and resumes from its checkpoint: every row exactly once")
    func takeover() async throws {
        try await withEnv { env in
            try await createPeopleTable(env.client, "people")
            let dir = try writeCSVs(files: 4, rows: 250)
            // A worker claimed the run, wrote the first two files, saved its checkpoint, and died.
            let id = try await env.queue(csvPipeline())
            let dead = try #require(try await env.runs.claim(id: id, worker: "dead", lease: .seconds(2)))
            #expect(dead.attempts == 1)
            try await env.client.exec("INSERT INTO people SELECT g, 'person ' || g, g % 90 FROM generate_series(0, 499) g")
            try await PostgresCheckpointStore(client: env.client, logger: RuntimeTestSupport.logger)
                .save(run: id, checkpoints: [SourceCheckpoint(nodeId: "in", resumeToken: Data("people-001.csv".utf8), items: 2)])

            let worker = env.worker("w2", ["files": filesConnection(dir), "table": tableConnection(env.url, "people")])
            let task = running(worker)
            let run = try await env.wait(id)
            await stop(task, worker)
            #expect(run.status == .completed, "\(run.error ?? "")")
            #expect(run.attempts == 2)
            #expect(run.workerID == "w2")
            #expect(run.itemsRead == 2, "only the files after the checkpoint are read again")
            #expect(try await env.client.int("SELECT count(*) FROM people") == 1000)
            #expect(try await env.client.int("SELECT count(*) FROM people_writes") == 1000, "no row written twice")
        }
    }

    @Test("cancel: a queued run ends at once; a running one stops at its worker's next heartbeat")
    func cancel() async throws {
        try await withEnv { env in
            try await createPeopleTable(env.client, "people", slowMillis: 30)
            let dir = try writeCSVs(files: 40, rows: 50)
            let connections = ["files": filesConnection(dir), "table": tableConnection(env.url, "people")]
            // Queued, no worker yet.
            let queued = try await env.queue(csvPipeline())
            let cancelled = try #require(try await env.runs.requestCancel(id: queued) { try RunEvents.event(for: $0) })
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.cancelRequested)
            #expect(try await env.runs.requestCancel(id: queued) { _ in nil }?.status == .cancelled, "a second cancel changes nothing")

            let worker = env.worker("w1", connections, options: RunOptions(batchSize: 10))
            let task = running(worker)
            let id = try await env.queue(csvPipeline())
            let started = try await env.wait(id, timeout: .seconds(30)) { $0.status == .running && $0.itemsWritten > 0 }
            #expect(started.status == .running)
            let asked = ContinuousClock.now
            _ = try await env.runs.requestCancel(id: id) { try RunEvents.event(for: $0) }
            let run = try await env.wait(id, timeout: .seconds(20))
            let took = ContinuousClock.now - asked
            await stop(task, worker)
            #expect(run.status == .cancelled)
            #expect(took < .seconds(10), "cancel took \(took)")
            #expect(run.itemsWritten < 2000)
            // The queued-run message was acknowledged without running anything.
            #expect(try await env.runs.find(id: queued)?.attempts == 0)
        }
    }

    @Test("a worker shutting down gives its run back to the queue; another worker finishes it")
    func shutdownHandsOver() async throws {
        try await withEnv { env in
            try await createPeopleTable(env.client, "people", slowMillis: 20)
            let dir = try writeCSVs(files: 20, rows: 50)
            let connections = ["files": filesConnection(dir), "table": tableConnection(env.url, "people")]
            let first = env.worker("w1", connections, options: RunOptions(batchSize: 10))
            let firstTask = running(first)
            let id = try await env.queue(csvPipeline())
            _ = try await env.wait(id, timeout: .seconds(30)) { $0.itemsWritten > 0 }
            await stop(firstTask, first)
            let handed = try #require(try await env.runs.find(id: id))
            #expect(handed.status == .queued, "\(handed.status)")
            let second = env.worker("w2", connections)
            let secondTask = running(second)
            let run = try await env.wait(id)
            await stop(secondTask, second)
            #expect(run.status == .completed, "\(run.error ?? "")")
            #expect(run.workerID == "w2")
            #expect(try await env.client.int("SELECT count(*) FROM people") == 1000)
        }
    }

    @Test("the scheduler fires a due pipeline once, creates its run and moves its next run time on")
    func scheduler() async throws {
        try await withEnv { env in
            let pipelines = PipelineRepository(client: env.client, logger: RuntimeTestSupport.logger)
            let json = String(decoding: try JSONEncoder().encode(csvPipeline()), as: UTF8.self)
            let triggers = PipelineTriggers(schedule: "*/5 * * * *")
            let now = Date()
            let due = try await pipelines.create(workspaceID: env.workspace, name: "due", description: nil, status: "enabled",
                                                 definitionJSON: json, triggersJSON: triggers.json, nextRunAt: now.addingTimeInterval(-60), createdBy: nil)
            _ = try await pipelines.create(workspaceID: env.workspace, name: "later", description: nil, status: "enabled",
                                           definitionJSON: json, triggersJSON: triggers.json, nextRunAt: now.addingTimeInterval(600), createdBy: nil)
            _ = try await pipelines.create(workspaceID: env.workspace, name: "off", description: nil, status: "disabled",
                                           definitionJSON: json, triggersJSON: triggers.json, nextRunAt: now.addingTimeInterval(-60), createdBy: nil)
            let scheduler = PipelineScheduler(pipelines: pipelines, jetStream: env.jetStream, logger: RuntimeTestSupport.logger)
            let fired = try await scheduler.fireDue(now: now)
            #expect(fired.count == 1)
            let firedID = try #require(fired.first)
            let run = try #require(try await env.runs.find(id: firedID))
            #expect(run.trigger == "schedule")
            #expect(run.pipelineID == due.id)
            #expect(run.status == .queued)
            let moved = try #require(try await pipelines.find(id: due.id)?.nextRunAt)
            #expect(moved > now)
            #expect(Calendar(identifier: .gregorian).component(.minute, from: moved) % 5 == 0)
            #expect(try await scheduler.fireDue(now: now).isEmpty, "a tick fires once")
            let info = try await env.jetStream.streamInfo(RunQueue.stream.name)
            #expect(info.messages >= 1)
        }
    }
}

@Suite("Runtime: cron schedules")
struct CronScheduleTests {
    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test("next firing times", arguments: [
        ("*/15 * * * *", "2026-01-01T10:07:30Z", "2026-01-01T10:15:00Z"),
        ("0 * * * *", "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"),
        ("30 2 * * *", "2026-01-01T03:00:00Z", "2026-01-02T02:30:00Z"),
        ("0 0 1 * *", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z"),
        ("0 9 * * 1-5", "2026-01-02T10:00:00Z", "2026-01-05T09:00:00Z"),  // Friday after 9 → Monday
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("@daily", "2026-12-31T23:59:00Z", "2027-01-01T00:00:00Z"),
        ("5,10 8-9 * * *", "2026-01-01T08:10:00Z", "2026-01-01T09:05:00Z"),
    ])
    func next(_ expression: String, _ after: String, _ expected: String) throws {
        let schedule = try CronSchedule(expression)
        #expect(schedule.next(after: Self.date(after)) == Self.date(expected))
    }

    @Test("bad schedules name the field", arguments: [
        ("* * * *", "five fields"), ("60 * * * *", "minute"), ("* 24 * * *", "hour"), ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month"), ("* * * * 8", "day of week"), ("*/0 * * * *", "minute"), ("a * * * *", "minute"), ("5-1 * * * *", "minute"),
    ])
    func invalid(_ expression: String, _ mentions: String) {
        #expect {
            _ = try CronSchedule(expression)
        } throws: { error in
            (error as? NvisyError)?.message.contains(mentions) == true
        }
    }
}
