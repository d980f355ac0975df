import Foundation
import NvisyNATS

/// The JetStream stream of webhook work: outbox events on `webhooks.events` (published by
/// the dispatcher, deduplicated by event id) and deliveries on `webhooks.deliveries` (one per
/// endpoint and event, retried with `nak(delay:)`). Work-queue retention: an acknowledged
/// message is gone.
public enum WebhookStream {
    /// The stream (deduplication window: one hour).
    public static let description = StreamDescription(
        name: "WEBHOOKS", subjects: ["webhooks.>"], retention: .workQueue,
        duplicateWindow: .seconds(3600), description: "nvisy webhook events and deliveries")
}

/// An outbox event handed to JetStream: its id, workspace, type, time and data.
public struct WebhookEventMessage: StreamMessage, Equatable {
    public static var stream: StreamDescription { WebhookStream.description }
    public static var subject: String { "webhooks.events" }

    public var id: UUID
    public var workspaceID: UUID
    public var type: String
    public var timestamp: Date
    /// The event's data, a JSON object.
    public var data: String

    public init(id: UUID, workspaceID: UUID, type: String, timestamp: Date, data: String) {
        self.id = id
        self.workspaceID = workspaceID
        self.type = type
        self.timestamp = timestamp
        self.data = data
    }
}

/// One delivery (an event for one endpoint) to attempt.
public struct WebhookDeliveryMessage: StreamMessage, Equatable {
    public static var stream: StreamDescription { WebhookStream.description }
    public static var subject: String { "webhooks.deliveries" }

    public var deliveryID: UUID

    public init(deliveryID: UUID) { self.deliveryID = deliveryID }
}
