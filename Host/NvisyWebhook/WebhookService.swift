import Foundation
import Logging
import NvisyCore
import NvisyNATS
import NvisyPostgres
import PostgresNIO
import ServiceLifecycle

/// Runs webhook delivery on one host (any number of hosts may run it against the same
/// Postgres and NATS):
///
/// 1. the **dispatcher** moves outbox rows (`events` with `dispatched_at` null) to JetStream,
///    deduplicated by event id, and marks them dispatched in the same transaction that locked
///    them — a crash between the publish and the commit republishes, and JetStream drops the copy;
/// 2. the **fan-out** consumer turns each event into one delivery per subscribed active endpoint
///    (idempotent: one row per endpoint and event) and queues it;
/// 3. the **delivery** consumer signs and sends each delivery, records the attempt, and retries
///    with `nak(delay:)` on the backoff schedule.
public struct WebhookService: Service {
    let webhooks: Webhooks
    let jetStream: JetStream
    let client: PostgresClient
    let logger: Logger

    public init(webhooks: Webhooks, jetStream: JetStream, logger: Logger) {
        self.webhooks = webhooks
        self.jetStream = jetStream
        self.client = webhooks.client
        self.logger = logger
    }

    var settings: WebhookSettings { webhooks.settings }
    var repository: WebhookRepository { webhooks.repository }

    public func run() async throws {
        try await jetStream.ensureStream(WebhookStream.description)
        let ackWait = Duration.seconds(max(30, 3 * Int64(settings.timeout.components.seconds)))
        let fanout = try await jetStream.consumer(WebhookEventMessage.self, durable: "webhook-fanout",
                                                  options: ConsumerOptions(ackWait: .seconds(30), maxDeliver: nil, batchSize: 32))
        let deliveries = try await jetStream.consumer(WebhookDeliveryMessage.self, durable: "webhook-delivery",
                                                      options: ConsumerOptions(ackWait: ackWait, maxDeliver: nil, maxAckPending: 10_000,
                                                                               batchSize: settings.concurrency))
        let sender = WebhookSender(settings: settings, logger: logger)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await dispatchLoop() }
                group.addTask { await fanoutLoop(fanout) }
                group.addTask { await deliveryLoop(deliveries, sender: sender) }
                await group.waitForAll()
            }
        }
        await fanout.close()
        await deliveries.close()
        await sender.shutdown()
    }

    // MARK: 1. Outbox → JetStream

    func dispatchLoop() async {
        while !Task.isCancelled {
            var moved = 0
            do { moved = try await dispatchOnce() + (try await queueOnce()) } catch {
                logger.warning("webhook dispatcher: \(error); retrying")
            }
            if moved == 0 { try? await Task.sleep(for: settings.dispatchInterval) }
        }
    }

    /// Moves up to 100 outbox rows to JetStream; returns how many.
    @discardableResult
    public func dispatchOnce() async throws -> Int {
        let js = jetStream
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let events = try await Outbox.claimUndispatched(limit: 100, on: connection, logger: logger)
            for event in events {
                try await js.publish(WebhookEventMessage(id: event.id, workspaceID: event.workspaceID, type: event.type,
                                                         timestamp: event.createdAt, data: event.dataJSON),
                                     messageID: event.id.uuidString)
            }
            try await Outbox.markDispatched(events.map(\.id), on: connection, logger: logger)
            return events.count
        }
    }

    /// Hands unqueued deliveries (test events, manual retries) to JetStream; returns how many.
    @discardableResult
    public func queueOnce() async throws -> Int {
        let js = jetStream
        return try await repository.queueUnqueued(limit: 100) { id, attempts in
            try await js.publish(WebhookDeliveryMessage(deliveryID: id), messageID: "\(id.uuidString)-\(attempts)")
        }
    }

    // MARK: 2. Event → deliveries

    func fanoutLoop(_ consumer: PullConsumer<WebhookEventMessage>) async {
        while !Task.isCancelled {
            do {
                for try await message in consumer {
                    do {
                        try await fanout(message.value)
                        try await message.ack()
                    } catch {
                        logger.warning("webhook fan-out of event \(message.value.id): \(error); retrying")
                        try? await message.nak(delay: .seconds(2))
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("webhook fan-out consumer: \(error); restarting")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    func fanout(_ event: WebhookEventMessage) async throws {
        let endpoints = try await repository.active(workspaceID: event.workspaceID)
            .filter { $0.eventTypes.contains { WebhookEvents.matches($0, event.type) } }
        guard !endpoints.isEmpty else { return }
        let body = WebhookEvents.body(type: event.type, timestamp: event.timestamp, dataJSON: event.data)
        for endpoint in endpoints {
            let delivery = try await repository.createDelivery(webhookID: endpoint.id, eventID: event.id, eventType: event.type, body: body)
            // A delivery that already made attempts is in the delivery consumer's hands.
            if delivery.status == .pending && delivery.attempts == 0 {
                try await jetStream.publish(WebhookDeliveryMessage(deliveryID: delivery.id), messageID: "\(delivery.id.uuidString)-0")
                try await repository.markQueued(deliveryID: delivery.id)
            }
        }
    }

    // MARK: 3. Deliveries

    func deliveryLoop(_ consumer: PullConsumer<WebhookDeliveryMessage>, sender: WebhookSender) async {
        let limit = max(1, settings.concurrency)
        while !Task.isCancelled {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var running = 0
                    for try await message in consumer {
                        if running >= limit {
                            try await group.next()
                            running -= 1
                        }
                        running += 1
                        group.addTask {
                            let action = await deliver(message.value.deliveryID, sender: sender)
                            switch action {
                            case .ack: try? await message.ack()
                            case .retry(let delay): try? await message.nak(delay: delay)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("webhook delivery consumer: \(error); restarting")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// What to do with a delivery message after an attempt.
    public enum Action: Sendable, Equatable {
        case ack
        case retry(after: Duration)
    }

    /// Makes one attempt of a delivery (if it is still pending and its endpoint active).
    func deliver(_ deliveryID: UUID, sender: WebhookSender) async -> Action {
        do {
            guard let delivery = try await repository.findDelivery(id: deliveryID), delivery.status == .pending else { return .ack }
            guard let webhook = try await repository.find(id: delivery.webhookID) else { return .ack }
            if webhook.status != .active && delivery.eventType != "webhook.test" {
                try await repository.abandon(deliveryID: deliveryID, reason: "the webhook is paused; retry the delivery after resuming it")
                return .ack
            }
            if let next = delivery.nextAttemptAt, delivery.attempts > 0, next.timeIntervalSinceNow > 1 {
                return .retry(after: .milliseconds(Int64(next.timeIntervalSinceNow * 1000)))  // redelivered early
            }
            let secrets = try webhooks.secrets.signing(webhook)
            let body = Array(delivery.body.utf8)
            let timestamp = Int(Date().timeIntervalSince1970)
            let id = delivery.eventID.uuidString.lowercased()
            var headers: [(String, String)] = Webhooks.headers(of: webhook).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            headers += [
                ("content-type", "application/json"),
                ("user-agent", "nvisy-webhooks/1"),
                (WebhookSigner.idHeader, id),
                (WebhookSigner.timestampHeader, String(timestamp)),
                (WebhookSigner.signatureHeader, WebhookSigner.header(id: id, timestamp: timestamp, body: body, secrets: secrets)),
            ]
            let result = await sender.send(url: webhook.url, headers: headers, body: body)
            let attempt = delivery.attempts + 1
            let outcome: WebhookAttemptOutcome
            var action = Action.ack
            switch result.verdict {
            case .success:
                outcome = .succeeded
            case .permanent:
                outcome = .failed
            case .retryable:
                if let delay = settings.delay(afterAttempt: delivery.cycleAttempts + 1, retryAfter: result.retryAfter) {
                    let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
                    outcome = .retry(at: Date().addingTimeInterval(seconds))
                    action = .retry(after: delay)
                } else {
                    outcome = .failed
                }
            }
            let paused = try await repository.recordAttempt(
                deliveryID: deliveryID, webhookID: webhook.id, workspaceID: webhook.workspaceID, attempt: attempt,
                statusCode: result.statusCode, latencyMs: result.latencyMs, error: result.error, outcome: outcome,
                autoPauseAfterSeconds: Double(settings.autoPauseAfter.components.seconds)
                    + Double(settings.autoPauseAfter.components.attoseconds) / 1e18)
            if paused {
                logger.warning("webhook \(webhook.id) paused: it has failed for longer than the auto-pause period")
            }
            return action
        } catch {
            logger.warning("webhook delivery \(deliveryID): \(error); retrying in 5 s")
            return .retry(after: .seconds(5))
        }
    }
}
