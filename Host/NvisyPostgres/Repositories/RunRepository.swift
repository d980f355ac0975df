import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// Runs: created queued by the API or a trigger, claimed by one worker at a time through a
/// lease, reported on while they run, finished with their outcome — the outcome and its
/// `pipeline.run.*` event in one transaction (the outbox), so a webhook never misses it.
public struct RunRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let columns = """
        id, workspace_id, pipeline_id, pipeline_name, definition::text, status, trigger, trigger_detail::text, cancel_requested,
        attempts, worker_id, lease_expires_at, progress::text, items_read, items_written, items_failed, error, error_retry,
        created_by, created_at, started_at, finished_at, updated_at
        """

    // MARK: Creating and reading

    /// Inserts a queued run.
    public func create(_ run: NewRun) async throws(NvisyError) -> RunRecord {
        do {
            return try await client.withConnection { try await Self.insert(run, on: $0, logger: logger) }
        } catch { throw PostgresErrors.wrap(error, "create run") }
    }

    /// Inserts a queued run on `connection` (inside the caller's transaction, e.g. a trigger's).
    public static func insert(_ run: NewRun, on connection: PostgresConnection, logger: Logger) async throws -> RunRecord {
        let rows = try await connection.query("""
            INSERT INTO runs (id, workspace_id, pipeline_id, pipeline_name, definition, trigger, trigger_detail, created_by)
            VALUES (\(run.id), \(run.workspaceID), \(run.pipelineID), \(run.pipelineName), \(run.definitionJSON)::jsonb,
                    \(run.trigger), \(run.triggerDetailJSON)::jsonb, \(run.createdBy))
            RETURNING \(unescaped: columns)
            """, logger: logger)
        return try await records(rows).first!
    }

    public func find(id: UUID) async throws(NvisyError) -> RunRecord? {
        do {
            let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM runs WHERE id = \(id)", logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "find run") }
    }

    /// The runs of a workspace, newest first; `pipelineID` and `status` filter.
    public func list(workspaceID: UUID, pipelineID: UUID?, status: String?, after: UUID?, limit: Int) async throws(NvisyError) -> Page<RunRecord> {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM runs
                WHERE workspace_id = \(workspaceID) AND (\(pipelineID)::uuid IS NULL OR pipeline_id = \(pipelineID))
                  AND (\(status)::text IS NULL OR status = \(status)) AND (\(after)::uuid IS NULL OR id < \(after))
                ORDER BY id DESC LIMIT \(limit + 1)
                """, logger: logger)
            return Page(fetched: try await Self.records(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list runs") }
    }

    /// Runs still to do that no live worker holds: queued for longer than `olderThan`, or running
    /// with an expired lease. The queue service publishes them again (a lost publish, a dead worker).
    public func orphaned(olderThan: Duration, limit: Int) async throws(NvisyError) -> [UUID] {
        let seconds = Double(olderThan.components.seconds)
        do {
            let rows = try await client.query("""
                SELECT id FROM runs
                WHERE (status = 'queued' AND worker_id IS NULL AND created_at < now() - make_interval(secs => \(seconds)))
                   OR (status IN ('queued', 'running') AND lease_expires_at < now() - make_interval(secs => \(seconds)))
                ORDER BY id LIMIT \(limit)
                """, logger: logger)
            var ids: [UUID] = []
            for try await id in rows.decode(UUID.self) { ids.append(id) }
            return ids
        } catch { throw PostgresErrors.wrap(error, "find orphaned runs") }
    }

    // MARK: The worker's side

    /// Takes the lease of a run that is still to do and that no other worker holds (or whose
    /// holder's lease expired): the run becomes `running`, its attempts count up. Answers nil
    /// when the run is final, gone, or held by a live worker.
    /// `event` is recorded in the same transaction (the status change to `running`).
    public func claim(id: UUID, worker: String, lease: Duration,
                      event: (RunRecord) throws -> OutboxEvent? = { _ in nil }) async throws(NvisyError) -> RunRecord? {
        do {
            return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query("""
                UPDATE runs SET status = 'running', worker_id = \(worker), attempts = attempts + 1,
                    lease_expires_at = now() + make_interval(secs => \(Self.seconds(lease))),
                    started_at = COALESCE(started_at, now()), updated_at = now()
                WHERE id = \(id) AND status IN ('queued', 'running') AND NOT cancel_requested
                  AND (worker_id IS NULL OR worker_id = \(worker) OR lease_expires_at < now())
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            guard let run = try await Self.records(rows).first else { return nil }
            if let e = try event(run) { try await Outbox.record(e, on: connection, logger: logger) }
            return run
            }
        } catch { throw PostgresErrors.wrap(error, "claim run") }
    }

    /// What a heartbeat learns: whether this worker still holds the lease, and whether a user
    /// asked to cancel.
    public struct LeaseState: Sendable, Equatable {
        public var held: Bool
        public var cancelRequested: Bool
    }

    /// Renews the lease and stores the progress snapshot.
    public func heartbeat(id: UUID, worker: String, lease: Duration, _ beat: RunHeartbeat) async throws(NvisyError) -> LeaseState {
        do {
            let rows = try await client.query("""
                UPDATE runs SET lease_expires_at = now() + make_interval(secs => \(Self.seconds(lease))), progress = \(beat.progressJSON)::jsonb,
                    items_read = \(beat.read), items_written = \(beat.written), items_failed = \(beat.failed), updated_at = now()
                WHERE id = \(id) AND worker_id = \(worker) AND status = 'running'
                RETURNING cancel_requested
                """, logger: logger)
            for try await cancel in rows.decode(Bool.self) { return LeaseState(held: true, cancelRequested: cancel) }
            return LeaseState(held: false, cancelRequested: false)
        } catch { throw PostgresErrors.wrap(error, "renew run lease") }
    }

    /// Ends a run this worker holds with its outcome, and records `event` (e.g.
    /// `pipeline.run.completed`) in the same transaction. Answers false when the worker no
    /// longer held the lease (another worker took the run over; its outcome wins).
    public func finish(id: UUID, worker: String, status: RunRecord.Status, error: String?, errorRetry: String?,
                       _ beat: RunHeartbeat, event: (RunRecord) throws -> OutboxEvent?) async throws(NvisyError) -> Bool {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    UPDATE runs SET status = \(status.rawValue), error = \(error), error_retry = \(errorRetry), progress = \(beat.progressJSON)::jsonb,
                        items_read = \(beat.read), items_written = \(beat.written), items_failed = \(beat.failed),
                        finished_at = now(), lease_expires_at = NULL, updated_at = now()
                    WHERE id = \(id) AND worker_id = \(worker) AND status = 'running'
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                guard let run = try await Self.records(rows).first else { return false }
                if let e = try event(run) { try await Outbox.record(e, on: connection, logger: logger) }
                return true
            }
        } catch { throw PostgresErrors.wrap(error, "finish run") }
    }

    /// Puts a run this worker holds back in the queue (a transient failure: another attempt may succeed).
    public func release(id: UUID, worker: String, error: String) async throws(NvisyError) {
        do {
            try await client.query("""
                UPDATE runs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL, error = \(error), error_retry = 'transient',
                    updated_at = now()
                WHERE id = \(id) AND worker_id = \(worker) AND status = 'running'
                """, logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "release run") }
    }

    // MARK: The user's side

    /// Asks to cancel: a queued run is cancelled at once (with its event); a running one is
    /// flagged, and its worker stops it at its next heartbeat. Answers the run, or nil if none.
    public func requestCancel(id: UUID, event: (RunRecord) throws -> OutboxEvent?) async throws(NvisyError) -> RunRecord? {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    UPDATE runs SET cancel_requested = true,
                        status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
                        finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
                        worker_id = CASE WHEN status = 'queued' THEN NULL ELSE worker_id END, updated_at = now()
                    WHERE id = \(id) AND status IN ('queued', 'running')
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                if let run = try await Self.records(rows).first {
                    if run.status == .cancelled, let e = try event(run) { try await Outbox.record(e, on: connection, logger: logger) }
                    return run
                }
                let current = try await connection.query("SELECT \(unescaped: Self.columns) FROM runs WHERE id = \(id)", logger: logger)
                return try await Self.records(current).first
            }
        } catch { throw PostgresErrors.wrap(error, "cancel run") }
    }

    /// A worker's cancelled run that it no longer holds (it died) but that was flagged for
    /// cancellation: end it as cancelled.
    public func cancelAbandoned(id: UUID, event: (RunRecord) throws -> OutboxEvent?) async throws(NvisyError) -> Bool {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    UPDATE runs SET status = 'cancelled', finished_at = now(), worker_id = NULL, lease_expires_at = NULL, updated_at = now()
                    WHERE id = \(id) AND cancel_requested AND status IN ('queued', 'running')
                      AND (lease_expires_at IS NULL OR lease_expires_at < now())
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                guard let run = try await Self.records(rows).first else { return false }
                if let e = try event(run) { try await Outbox.record(e, on: connection, logger: logger) }
                return true
            }
        } catch { throw PostgresErrors.wrap(error, "cancel abandoned run") }
    }

    /// Whether a run of the workspace is queued or running: it may read the workspace's files,
    /// so a deleted file's bytes stay until no such run is left.
    public func hasActiveRuns(workspaceID: UUID) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("""
                SELECT EXISTS (SELECT 1 FROM runs WHERE workspace_id = \(workspaceID) AND status IN ('queued', 'running'))
                """, logger: logger)
            for try await used in rows.decode(Bool.self) { return used }
            return false
        } catch { throw PostgresErrors.wrap(error, "check active runs") }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func records(_ rows: PostgresRowSequence) async throws -> [RunRecord] {
        var out: [RunRecord] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            out.append(RunRecord(
                id: try c[0].decode(UUID.self), workspaceID: try c[1].decode(UUID.self), pipelineID: try c[2].decode(UUID?.self),
                pipelineName: try c[3].decode(String.self), definitionJSON: try c[4].decode(String.self),
                status: RunRecord.Status(rawValue: try c[5].decode(String.self)) ?? .failed, trigger: try c[6].decode(String.self),
                triggerDetailJSON: try c[7].decode(String?.self), cancelRequested: try c[8].decode(Bool.self),
                attempts: Int(try c[9].decode(Int32.self)), workerID: try c[10].decode(String?.self),
                leaseExpiresAt: try c[11].decode(Date?.self), progressJSON: try c[12].decode(String?.self),
                itemsRead: try c[13].decode(Int64.self), itemsWritten: try c[14].decode(Int64.self), itemsFailed: try c[15].decode(Int64.self),
                error: try c[16].decode(String?.self), errorRetry: try c[17].decode(String?.self), createdBy: try c[18].decode(UUID?.self),
                createdAt: try c[19].decode(Date.self), startedAt: try c[20].decode(Date?.self), finishedAt: try c[21].decode(Date?.self),
                updatedAt: try c[22].decode(Date.self)))
        }
        return out
    }
}
