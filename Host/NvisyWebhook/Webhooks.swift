import Foundation
import Logging
import NvisyCore
import NvisyPostgres
import PostgresNIO

/// What the REST API does with webhooks: create (secret shown once), rotate, send a test
/// event, retry a delivery. Reads go straight to ``repository``.
public struct Webhooks: Sendable {
    public let repository: WebhookRepository
    public let settings: WebhookSettings
    let secrets: WebhookSecrets
    let client: PostgresClient
    let logger: Logger

    /// Needs only the database: test events and retries are recorded as unqueued deliveries,
    /// which a host running the ``WebhookService`` hands to JetStream.
    /// `keyring` seals the secrets (nil: stored unsealed, as the row records).
    public init(client: PostgresClient, keyring: CredentialKeyring?, settings: WebhookSettings = WebhookSettings(), logger: Logger) {
        self.client = client
        self.repository = WebhookRepository(client: client, logger: logger)
        self.settings = settings
        self.secrets = WebhookSecrets(keyring: keyring)
        self.logger = logger
    }

    /// Checks a URL, the event types and the custom headers of a webhook.
    public func validate(url: String?, eventTypes: [String]?, headers: [String: String]?) throws(NvisyError) {
        if let url { _ = try WebhookURL.validate(url) }
        if let eventTypes { try WebhookEvents.validate(eventTypes) }
        if let headers {
            guard headers.count <= 20 else { throw NvisyError.invalidInput("at most 20 custom headers", pointer: "/headers") }
            for (name, value) in headers {
                let lower = name.lowercased()
                let token = !name.isEmpty && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && !"()<>@,;:\\\"/[]?={}".utf8.contains($0) }
                guard token, value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7f }), value.count <= 1024 else {
                    throw NvisyError.invalidInput("header \(name) is not a valid HTTP header", pointer: "/headers/\(name)")
                }
                guard !lower.hasPrefix("webhook-"), !["host", "content-type", "content-length", "transfer-encoding", "connection"].contains(lower) else {
                    throw NvisyError.invalidInput("header \(name) is set by nvisy and cannot be overridden", pointer: "/headers/\(name)")
                }
            }
        }
    }

    /// Creates a webhook; returns it and its secret (`whsec_…`), which is never shown again.
    public func create(workspaceID: UUID, url: String, description: String?, eventTypes: [String], headers: [String: String],
                       createdBy: UUID?) async throws(NvisyError) -> (WebhookRecord, WebhookSecret) {
        try validate(url: url, eventTypes: eventTypes, headers: headers)
        let id = UUID.v7()
        let secret = try WebhookSecret.generate()
        let sealed = try secrets.seal(secret, workspaceID: workspaceID, webhookID: id)
        let record = try await repository.create(NewWebhook(
            id: id, workspaceID: workspaceID, url: url, description: description, eventTypes: eventTypes,
            headersJSON: Self.json(headers), secret: sealed.bytes, secretSealed: sealed.sealed, keyID: sealed.keyID, createdBy: createdBy))
        return (record, secret)
    }

    /// A new secret; the old one keeps signing for `settings.rotationGracePeriod` (or `grace`).
    public func rotateSecret(_ webhook: WebhookRecord, grace: Duration? = nil) async throws(NvisyError) -> (WebhookRecord, WebhookSecret) {
        let current = try secrets.signing(webhook)[0]
        let fresh = try WebhookSecret.generate()
        // Both under one key (a key rotation may switch the current key between two seals).
        var sealedNew = try secrets.seal(fresh, workspaceID: webhook.workspaceID, webhookID: webhook.id)
        var sealedOld = try secrets.seal(current, workspaceID: webhook.workspaceID, webhookID: webhook.id)
        while sealedOld.keyID != sealedNew.keyID {
            sealedNew = try secrets.seal(fresh, workspaceID: webhook.workspaceID, webhookID: webhook.id)
            sealedOld = try secrets.seal(current, workspaceID: webhook.workspaceID, webhookID: webhook.id)
        }
        let period = grace ?? settings.rotationGracePeriod
        let until = Date().addingTimeInterval(Double(period.components.seconds) + Double(period.components.attoseconds) / 1e18)
        guard let updated = try await repository.rotate(id: webhook.id, secret: sealedNew.bytes, sealed: sealedNew.sealed, keyID: sealedNew.keyID,
                                                        previousSecret: sealedOld.bytes, previousExpiresAt: until) else {
            throw NvisyError.notFound("webhook \(webhook.id) does not exist")
        }
        return (updated, fresh)
    }

    /// Sends a `webhook.test` event to this webhook only (even when paused: it is how one
    /// checks a receiver before resuming). Returns the delivery.
    public func sendTest(_ webhook: WebhookRecord) async throws(NvisyError) -> WebhookDeliveryRecord {
        let eventID = UUID.v7()
        let data = #"{"webhookId":""# + webhook.id.uuidString.lowercased() + #"","workspaceId":""# + webhook.workspaceID.uuidString.lowercased() + #""}"#
        let body = WebhookEvents.body(type: "webhook.test", timestamp: Date(), dataJSON: data)
        return try await repository.createDelivery(webhookID: webhook.id, eventID: eventID, eventType: "webhook.test", body: body)
    }

    /// Starts a new cycle of attempts for a delivery (same event id, fresh attempts).
    public func retry(_ delivery: WebhookDeliveryRecord) async throws(NvisyError) -> WebhookDeliveryRecord {
        guard let reset = try await repository.resetForRetry(deliveryID: delivery.id) else {
            throw NvisyError.notFound("delivery \(delivery.id) does not exist")
        }
        return reset
    }

    static func json(_ headers: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(headers)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The custom headers of a record.
    public static func headers(of webhook: WebhookRecord) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(webhook.headersJSON.utf8))) ?? [:]
    }
}
