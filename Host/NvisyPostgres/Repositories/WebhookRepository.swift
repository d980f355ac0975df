import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// A row of `webhooks`. `secret`/`previousSecret` are sealed bytes (see `secretSealed`): never
/// hand them to the API.
public struct WebhookRecord: Sendable, Equatable {
    public enum Status: String, Sendable { case active, paused }

    public var id: UUID
    public var workspaceID: UUID
    public var url: String
    public var description: String?
    public var eventTypes: [String]
    /// A JSON object of extra request headers.
    public var headersJSON: String
    public var status: Status
    public var pausedReason: String?
    public var secret: [UInt8]
    public var secretSealed: Bool
    public var previousSecret: [UInt8]?
    public var previousExpiresAt: Date?
    public var failingSince: Date?
    public var createdAt: Date
    public var updatedAt: Date
    /// The master key that sealed `secret` and `previousSecret` (nil: before key ids, or unsealed).
    public var keyID: String? = nil
}

/// A row of `webhook_deliveries`: one event for one endpoint, with its attempts when listed.
public struct WebhookDeliveryRecord: Sendable, Equatable {
    public enum Status: String, Sendable { case pending, succeeded, failed }

    public var id: UUID
    public var webhookID: UUID
    public var eventID: UUID
    public var eventType: String
    public var body: String
    public var status: Status
    public var attempts: Int
    public var cycleAttempts: Int
    public var nextAttemptAt: Date?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var attemptLog: [WebhookAttemptRecord] = []
}

/// A row of `webhook_attempts`: one HTTP request.
public struct WebhookAttemptRecord: Sendable, Equatable {
    public var id: UUID
    public var deliveryID: UUID
    public var attempt: Int
    public var attemptedAt: Date
    public var statusCode: Int?
    public var latencyMs: Int
    public var error: String?
    public var nextRetryAt: Date?
}

/// The fields of a new webhook.
public struct NewWebhook: Sendable {
    public var id: UUID
    public var workspaceID: UUID
    public var url: String
    public var description: String?
    public var eventTypes: [String]
    public var headersJSON: String
    public var secret: [UInt8]
    public var secretSealed: Bool
    public var keyID: String?
    public var createdBy: UUID?

    public init(id: UUID, workspaceID: UUID, url: String, description: String?, eventTypes: [String], headersJSON: String,
                secret: [UInt8], secretSealed: Bool, keyID: String? = nil, createdBy: UUID?) {
        self.keyID = keyID
        self.id = id
        self.workspaceID = workspaceID
        self.url = url
        self.description = description
        self.eventTypes = eventTypes
        self.headersJSON = headersJSON
        self.secret = secret
        self.secretSealed = secretSealed
        self.createdBy = createdBy
    }
}

/// What one attempt ended in.
public enum WebhookAttemptOutcome: Sendable {
    case succeeded
    /// Another attempt follows at the date.
    case retry(at: Date)
    case failed
}

/// Webhook endpoints, their deliveries and attempts.
public struct WebhookRepository: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    static let columns = """
        id, workspace_id, url, description, event_types, headers::text, status, paused_reason, secret, secret_sealed,
        previous_secret, previous_expires_at, failing_since, created_at, updated_at, key_id
        """

    static func records(_ rows: PostgresRowSequence) async throws -> [WebhookRecord] {
        var out: [WebhookRecord] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            out.append(WebhookRecord(
                id: try c[0].decode(UUID.self), workspaceID: try c[1].decode(UUID.self), url: try c[2].decode(String.self),
                description: try c[3].decode(String?.self), eventTypes: try c[4].decode([String].self),
                headersJSON: try c[5].decode(String.self),
                status: WebhookRecord.Status(rawValue: try c[6].decode(String.self)) ?? .paused,
                pausedReason: try c[7].decode(String?.self), secret: [UInt8](try c[8].decode(Data.self)),
                secretSealed: try c[9].decode(Bool.self),
                previousSecret: try c[10].decode(Data?.self).map { [UInt8]($0) },
                previousExpiresAt: try c[11].decode(Date?.self), failingSince: try c[12].decode(Date?.self),
                createdAt: try c[13].decode(Date.self), updatedAt: try c[14].decode(Date.self), keyID: try c[15].decode(String?.self)))
        }
        return out
    }

    public func create(_ new: NewWebhook) async throws(NvisyError) -> WebhookRecord {
        do {
            let rows = try await client.query("""
                INSERT INTO webhooks (id, workspace_id, url, description, event_types, headers, secret, secret_sealed, key_id, created_by)
                VALUES (\(new.id), \(new.workspaceID), \(new.url), \(new.description), \(new.eventTypes), \(new.headersJSON)::jsonb,
                        \(Data(new.secret)), \(new.secretSealed), \(new.keyID), \(new.createdBy))
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            guard let record = try await Self.records(rows).first else { throw NvisyError.internal("webhook insert returned nothing") }
            return record
        } catch { throw PostgresErrors.wrap(error, "create webhook") }
    }

    public func find(id: UUID) async throws(NvisyError) -> WebhookRecord? {
        do {
            let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM webhooks WHERE id = \(id)", logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "find webhook") }
    }

    public func list(workspaceID: UUID, after: UUID?, limit: Int) async throws(NvisyError) -> Page<WebhookRecord> {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM webhooks
                WHERE workspace_id = \(workspaceID) AND (\(after)::uuid IS NULL OR id > \(after))
                ORDER BY id LIMIT \(limit + 1)
                """, logger: logger)
            return Page(fetched: try await Self.records(rows), limit: limit, key: \.id)
        } catch { throw PostgresErrors.wrap(error, "list webhooks") }
    }

    /// The active webhooks of a workspace (the dispatcher matches event types in Swift).
    public func active(workspaceID: UUID) async throws(NvisyError) -> [WebhookRecord] {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.columns) FROM webhooks WHERE workspace_id = \(workspaceID) AND status = 'active' ORDER BY id
                """, logger: logger)
            return try await Self.records(rows)
        } catch { throw PostgresErrors.wrap(error, "list active webhooks") }
    }

    /// Changes the given fields (`nil` leaves one as it is; `clearDescription` empties it).
    /// Making a webhook active again forgets its failures.
    public func update(id: UUID, url: String?, description: String?, clearDescription: Bool, eventTypes: [String]?,
                       headersJSON: String?, status: WebhookRecord.Status?) async throws(NvisyError) -> WebhookRecord? {
        do {
            let rows = try await client.query("""
                UPDATE webhooks SET
                    url = coalesce(\(url), url),
                    description = CASE WHEN \(clearDescription) THEN NULL ELSE coalesce(\(description), description) END,
                    event_types = coalesce(\(eventTypes)::text[], event_types),
                    headers = coalesce(\(headersJSON)::jsonb, headers),
                    failing_since = CASE WHEN \(status?.rawValue) = 'active' AND status = 'paused' THEN NULL ELSE failing_since END,
                    paused_reason = CASE WHEN \(status?.rawValue) = 'active' THEN NULL
                                         WHEN \(status?.rawValue) = 'paused' AND status = 'active' THEN 'paused by a user'
                                         ELSE paused_reason END,
                    status = coalesce(\(status?.rawValue), status),
                    updated_at = now()
                WHERE id = \(id) RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "update webhook") }
    }

    public func delete(id: UUID) async throws(NvisyError) -> Bool {
        do {
            let rows = try await client.query("DELETE FROM webhooks WHERE id = \(id) RETURNING id", logger: logger)
            for try await _ in rows { return true }
            return false
        } catch { throw PostgresErrors.wrap(error, "delete webhook") }
    }

    /// Replaces the secret; the previous one keeps signing until `previousExpiresAt`.
    public func rotate(id: UUID, secret: [UInt8], sealed: Bool, keyID: String? = nil, previousSecret: [UInt8], previousExpiresAt: Date)
        async throws(NvisyError) -> WebhookRecord? {
        do {
            let rows = try await client.query("""
                UPDATE webhooks SET secret = \(Data(secret)), secret_sealed = \(sealed), key_id = \(keyID),
                    previous_secret = \(Data(previousSecret)), previous_expires_at = \(previousExpiresAt), updated_at = now()
                WHERE id = \(id) RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            return try await Self.records(rows).first
        } catch { throw PostgresErrors.wrap(error, "rotate webhook secret") }
    }

    // MARK: Master key rotation

    /// How many webhooks still have secrets sealed with a key other than `keyID`.
    public func countSealed(notWith keyID: String) async throws(NvisyError) -> Int {
        do {
            let rows = try await client.query("SELECT count(*)::bigint FROM webhooks WHERE secret_sealed AND key_id IS DISTINCT FROM \(keyID)",
                                              logger: logger)
            for try await n in rows.decode(Int64.self) { return Int(n) }
            return 0
        } catch { throw PostgresErrors.wrap(error, "count sealed webhook secrets") }
    }

    /// Re-seals the secrets (current and previous) of up to `limit` webhooks not sealed with
    /// `keyID`, in one transaction with the rows locked (`SKIP LOCKED`). `reseal` gets
    /// (workspace, webhook id, old key id, sealed bytes) and returns them sealed anew.
    public func resealBatch(notWith keyID: String, limit: Int,
                            reseal: @Sendable (UUID, UUID, String?, [UInt8]) throws -> [UInt8]) async throws(NvisyError) -> Int {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    SELECT id, workspace_id, key_id, secret, previous_secret FROM webhooks
                    WHERE secret_sealed AND key_id IS DISTINCT FROM \(keyID)
                    ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    """, logger: logger)
                var batch: [(UUID, UUID, String?, Data, Data?)] = []
                for try await row in rows.decode((UUID, UUID, String?, Data, Data?).self) { batch.append(row) }
                for (id, workspace, oldKey, secret, previous) in batch {
                    let fresh = try reseal(workspace, id, oldKey, [UInt8](secret))
                    let freshPrevious = try previous.map { try reseal(workspace, id, oldKey, [UInt8]($0)) }
                    try await connection.query("""
                        UPDATE webhooks SET secret = \(Data(fresh)), previous_secret = \(freshPrevious.map { Data($0) }), key_id = \(keyID)
                        WHERE id = \(id)
                        """, logger: logger).drain()
                }
                return batch.count
            }
        } catch { throw PostgresErrors.wrap(error, "re-seal webhook secrets") }
    }

    // MARK: Deliveries

    static let deliveryColumns = """
        id, webhook_id, event_id, event_type, body, status, attempts, cycle_attempts, next_attempt_at, last_status_code,
        last_error, created_at, updated_at
        """

    static func deliveries(_ rows: PostgresRowSequence) async throws -> [WebhookDeliveryRecord] {
        var out: [WebhookDeliveryRecord] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            out.append(WebhookDeliveryRecord(
                id: try c[0].decode(UUID.self), webhookID: try c[1].decode(UUID.self), eventID: try c[2].decode(UUID.self),
                eventType: try c[3].decode(String.self), body: try c[4].decode(String.self),
                status: WebhookDeliveryRecord.Status(rawValue: try c[5].decode(String.self)) ?? .failed,
                attempts: Int(try c[6].decode(Int32.self)), cycleAttempts: Int(try c[7].decode(Int32.self)),
                nextAttemptAt: try c[8].decode(Date?.self), lastStatusCode: try c[9].decode(Int32?.self).map(Int.init),
                lastError: try c[10].decode(String?.self), createdAt: try c[11].decode(Date.self), updatedAt: try c[12].decode(Date.self)))
        }
        return out
    }

    /// Creates the delivery of `eventID` to `webhookID`, or returns the existing one (an event
    /// handed over twice makes one delivery).
    public func createDelivery(webhookID: UUID, eventID: UUID, eventType: String, body: String) async throws(NvisyError)
        -> WebhookDeliveryRecord {
        do {
            let inserted = try await client.query("""
                INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, body)
                VALUES (\(UUID.v7()), \(webhookID), \(eventID), \(eventType), \(body))
                ON CONFLICT (webhook_id, event_id) DO NOTHING RETURNING \(unescaped: Self.deliveryColumns)
                """, logger: logger)
            if let record = try await Self.deliveries(inserted).first { return record }
            let existing = try await client.query("""
                SELECT \(unescaped: Self.deliveryColumns) FROM webhook_deliveries WHERE webhook_id = \(webhookID) AND event_id = \(eventID)
                """, logger: logger)
            guard let record = try await Self.deliveries(existing).first else {
                throw NvisyError.notFound("the delivery of event \(eventID) to webhook \(webhookID) vanished")
            }
            return record
        } catch { throw PostgresErrors.wrap(error, "create webhook delivery") }
    }

    public func findDelivery(id: UUID) async throws(NvisyError) -> WebhookDeliveryRecord? {
        do {
            let rows = try await client.query("SELECT \(unescaped: Self.deliveryColumns) FROM webhook_deliveries WHERE id = \(id)", logger: logger)
            return try await Self.deliveries(rows).first
        } catch { throw PostgresErrors.wrap(error, "find webhook delivery") }
    }

    /// Deliveries of a webhook, newest first, each with its attempts.
    public func listDeliveries(webhookID: UUID, before: UUID?, limit: Int) async throws(NvisyError) -> Page<WebhookDeliveryRecord> {
        do {
            let rows = try await client.query("""
                SELECT \(unescaped: Self.deliveryColumns) FROM webhook_deliveries
                WHERE webhook_id = \(webhookID) AND (\(before)::uuid IS NULL OR id < \(before))
                ORDER BY id DESC LIMIT \(limit + 1)
                """, logger: logger)
            var page = Page(fetched: try await Self.deliveries(rows), limit: limit, key: \.id)
            let ids = page.items.map(\.id)
            if !ids.isEmpty {
                let attemptRows = try await client.query("""
                    SELECT id, delivery_id, attempt, attempted_at, status_code, latency_ms, error, next_retry_at
                    FROM webhook_attempts WHERE delivery_id = ANY(\(ids)) ORDER BY delivery_id, attempt
                    """, logger: logger)
                var byDelivery: [UUID: [WebhookAttemptRecord]] = [:]
                for try await (id, delivery, attempt, at, code, latency, error, next)
                    in attemptRows.decode((UUID, UUID, Int32, Date, Int32?, Int32, String?, Date?).self) {
                    byDelivery[delivery, default: []].append(WebhookAttemptRecord(
                        id: id, deliveryID: delivery, attempt: Int(attempt), attemptedAt: at, statusCode: code.map(Int.init),
                        latencyMs: Int(latency), error: error, nextRetryAt: next))
                }
                for index in page.items.indices { page.items[index].attemptLog = byDelivery[page.items[index].id] ?? [] }
            }
            return page
        } catch { throw PostgresErrors.wrap(error, "list webhook deliveries") }
    }

    /// Puts a delivery back to `pending` for a new cycle of attempts (a manual retry).
    public func resetForRetry(deliveryID: UUID) async throws(NvisyError) -> WebhookDeliveryRecord? {
        do {
            let rows = try await client.query("""
                UPDATE webhook_deliveries SET status = 'pending', cycle_attempts = 0, next_attempt_at = now(), queued = false, updated_at = now()
                WHERE id = \(deliveryID) RETURNING \(unescaped: Self.deliveryColumns)
                """, logger: logger)
            return try await Self.deliveries(rows).first
        } catch { throw PostgresErrors.wrap(error, "reset webhook delivery") }
    }

    /// Hands pending deliveries that are not queued yet (new test events, manual retries) to
    /// `publish` (delivery id, attempts so far) and marks them queued, in one transaction; rows
    /// are locked with `SKIP LOCKED`, so hosts share the work. Returns how many.
    public func queueUnqueued(limit: Int, publish: @escaping @Sendable (UUID, Int) async throws -> Void) async throws(NvisyError) -> Int {
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    SELECT id, attempts FROM webhook_deliveries WHERE status = 'pending' AND NOT queued
                    ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    """, logger: logger)
                var ids: [UUID] = []
                for try await (id, attempts) in rows.decode((UUID, Int32).self) {
                    try await publish(id, Int(attempts))
                    ids.append(id)
                }
                if !ids.isEmpty {
                    try await connection.query("UPDATE webhook_deliveries SET queued = true WHERE id = ANY(\(ids))", logger: logger).drain()
                }
                return ids.count
            }
        } catch { throw PostgresErrors.wrap(error, "queue webhook deliveries") }
    }

    /// Marks a delivery as handed to JetStream.
    public func markQueued(deliveryID: UUID) async throws(NvisyError) {
        do {
            try await client.query("UPDATE webhook_deliveries SET queued = true WHERE id = \(deliveryID)", logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "mark webhook delivery queued") }
    }

    /// Marks a pending delivery failed without an HTTP request (its endpoint is paused or gone).
    public func abandon(deliveryID: UUID, reason: String) async throws(NvisyError) {
        do {
            try await client.query("""
                UPDATE webhook_deliveries SET status = 'failed', last_error = \(reason), next_attempt_at = NULL, updated_at = now()
                WHERE id = \(deliveryID) AND status = 'pending'
                """, logger: logger).drain()
        } catch { throw PostgresErrors.wrap(error, "abandon webhook delivery") }
    }

    /// Records one attempt and its outcome; on a failure, pauses the endpoint (with an activity
    /// entry) once it has failed without a success for `autoPauseAfter` seconds. Returns whether
    /// this call paused it.
    @discardableResult
    public func recordAttempt(deliveryID: UUID, webhookID: UUID, workspaceID: UUID, attempt: Int, statusCode: Int?,
                              latencyMs: Int, error: String?, outcome: WebhookAttemptOutcome,
                              autoPauseAfterSeconds: Double) async throws(NvisyError) -> Bool {
        let status: String
        var next: Date?
        switch outcome {
        case .succeeded: status = "succeeded"
        case .retry(let at): status = "pending"; next = at
        case .failed: status = "failed"
        }
        let code = statusCode.map(Int32.init)
        let attemptNumber = Int32(attempt)
        let latency = Int32(clamping: latencyMs)
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query("""
                    INSERT INTO webhook_attempts (id, delivery_id, attempt, status_code, latency_ms, error, next_retry_at)
                    VALUES (\(UUID.v7()), \(deliveryID), \(attemptNumber), \(code), \(latency), \(error), \(next))
                    """, logger: logger).drain()
                try await connection.query("""
                    UPDATE webhook_deliveries SET status = \(status), attempts = attempts + 1, cycle_attempts = cycle_attempts + 1,
                        next_attempt_at = \(next), last_status_code = \(code), last_error = \(error), updated_at = now()
                    WHERE id = \(deliveryID)
                    """, logger: logger).drain()
                if case .succeeded = outcome {
                    try await connection.query("UPDATE webhooks SET failing_since = NULL WHERE id = \(webhookID) AND failing_since IS NOT NULL",
                                               logger: logger).drain()
                    return false
                }
                let paused = try await connection.query("""
                    UPDATE webhooks SET failing_since = coalesce(failing_since, now()),
                        status = CASE WHEN now() - coalesce(failing_since, now()) >= make_interval(secs => \(autoPauseAfterSeconds))
                                      THEN 'paused' ELSE status END,
                        paused_reason = CASE WHEN now() - coalesce(failing_since, now()) >= make_interval(secs => \(autoPauseAfterSeconds))
                                      THEN 'failing since ' || to_char(coalesce(failing_since, now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                      ELSE paused_reason END
                    WHERE id = \(webhookID) RETURNING status, (SELECT status FROM webhooks WHERE id = \(webhookID))
                    """, logger: logger)
                var nowPaused = false
                for try await (after, before) in paused.decode((String, String).self) { nowPaused = after == "paused" && before == "active" }
                if nowPaused {
                    let details = #"{"reason":"failing for longer than the auto-pause period","lastError":"# + Self.jsonString(error ?? "HTTP \(statusCode ?? 0)") + "}"
                    try await connection.query("""
                        INSERT INTO workspace_activities (id, workspace_id, actor_id, action, target_type, target_id, details)
                        VALUES (\(UUID.v7()), \(workspaceID), NULL, 'webhook.paused', 'webhook', \(webhookID), \(details)::jsonb)
                        """, logger: logger).drain()
                }
                return nowPaused
            }
        } catch { throw PostgresErrors.wrap(error, "record webhook attempt") }
    }

    static func jsonString(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
