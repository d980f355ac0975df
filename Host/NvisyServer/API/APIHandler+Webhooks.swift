import Foundation
import NvisyCore
import NvisyPostgres
import NvisyWebhook
import OpenAPIRuntime

/// Webhooks: endpoints that receive signed events (Standard Webhooks). Admins manage them,
/// viewers read them and their delivery log. The signing secret is shown once, at creation and
/// on rotation; it is stored sealed with the workspace key.
extension APIHandler {
    var webhooks: Webhooks {
        get throws(NvisyError) {
            guard let webhooks = deps.webhooks else { throw NvisyError.unavailable("webhooks are not configured on this host") }
            return webhooks
        }
    }

    func createWebhook(_ input: Operations.CreateWebhook.Input) async throws -> Operations.CreateWebhook.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        let context = try context
        let me = try context.requireSignedIn()
        try await context.require(.manageWebhooks, in: workspaceID)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let url = check.text(body.url, at: "/url", max: 2048) ?? ""
        let description = check.text(body.description, at: "/description", min: 0, max: 500)
        try check.check()
        let (saved, secret) = try await webhooks.create(
            workspaceID: workspaceID, url: url, description: description?.isEmpty == true ? nil : description,
            eventTypes: body.eventTypes, headers: body.headers?.additionalProperties ?? [:], createdBy: me.accountID)
        await record(workspaceID, me, "webhook.created", targetType: "webhook", targetID: saved.id, details: ["url": saved.url])
        return .created(.init(body: .json(.init(webhook: .init(saved), secret: secret.text))))
    }

    func listWebhooks(_ input: Operations.ListWebhooks.Input) async throws -> Operations.ListWebhooks.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: workspaceID)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await webhooks.repository.list(workspaceID: workspaceID, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.Webhook.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func getWebhook(_ input: Operations.GetWebhook.Input) async throws -> Operations.GetWebhook.Output {
        .ok(.init(body: .json(.init(try await loadWebhook(input.path.webhookId, .view)))))
    }

    func updateWebhook(_ input: Operations.UpdateWebhook.Input) async throws -> Operations.UpdateWebhook.Output {
        let existing = try await loadWebhook(input.path.webhookId, .manageWebhooks)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let url = check.text(body.url, at: "/url", max: 2048)
        let description = check.text(body.description, at: "/description", min: 0, max: 500)
        try check.check()
        let headers = body.headers?.additionalProperties
        try webhooks.validate(url: url, eventTypes: body.eventTypes, headers: headers)
        let headersJSON = headers.map { h in
            String(decoding: (try? JSONSerialization.data(withJSONObject: h, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
        }
        let status = body.status.map { WebhookRecord.Status(rawValue: $0.rawValue)! }
        guard let saved = try await webhooks.repository.update(
            id: existing.id, url: url, description: description?.isEmpty == true ? nil : description,
            clearDescription: description?.isEmpty == true, eventTypes: body.eventTypes, headersJSON: headersJSON, status: status) else {
            throw NvisyError.notFound("no webhook \(existing.id.text)")
        }
        var details: [String: String] = [:]
        if let url { details["url"] = url }
        if let status { details["status"] = status.rawValue }
        await record(existing.workspaceID, try context.requireSignedIn(), "webhook.updated", targetType: "webhook", targetID: existing.id, details: details)
        return .ok(.init(body: .json(.init(saved))))
    }

    func deleteWebhook(_ input: Operations.DeleteWebhook.Input) async throws -> Operations.DeleteWebhook.Output {
        let existing = try await loadWebhook(input.path.webhookId, .manageWebhooks)
        guard try await webhooks.repository.delete(id: existing.id) else { throw NvisyError.notFound("no webhook \(existing.id.text)") }
        await record(existing.workspaceID, try context.requireSignedIn(), "webhook.deleted", targetType: "webhook", targetID: existing.id,
                     details: ["url": existing.url])
        return .noContent(.init())
    }

    func testWebhook(_ input: Operations.TestWebhook.Input) async throws -> Operations.TestWebhook.Output {
        let existing = try await loadWebhook(input.path.webhookId, .manageWebhooks)
        let delivery = try await webhooks.sendTest(existing)
        return .accepted(.init(body: .json(.init(delivery))))
    }

    func rotateWebhookSecret(_ input: Operations.RotateWebhookSecret.Input) async throws -> Operations.RotateWebhookSecret.Output {
        let existing = try await loadWebhook(input.path.webhookId, .manageWebhooks)
        let (saved, secret) = try await webhooks.rotateSecret(existing)
        await record(existing.workspaceID, try context.requireSignedIn(), "webhook.secret_rotated", targetType: "webhook", targetID: existing.id)
        return .ok(.init(body: .json(.init(webhook: .init(saved), secret: secret.text))))
    }

    func listWebhookDeliveries(_ input: Operations.ListWebhookDeliveries.Input) async throws -> Operations.ListWebhookDeliveries.Output {
        let existing = try await loadWebhook(input.path.webhookId, .view)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await webhooks.repository.listDeliveries(webhookID: existing.id, before: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: result.items.map(Components.Schemas.WebhookDelivery.init),
                                           nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func retryWebhookDelivery(_ input: Operations.RetryWebhookDelivery.Input) async throws -> Operations.RetryWebhookDelivery.Output {
        let existing = try await loadWebhook(input.path.webhookId, .manageWebhooks)
        let deliveryID = try pathID(input.path.deliveryId, "deliveryId")
        guard let delivery = try await webhooks.repository.findDelivery(id: deliveryID), delivery.webhookID == existing.id else {
            throw NvisyError.notFound("no delivery \(deliveryID.text) for webhook \(existing.id.text)")
        }
        if delivery.status == .pending && delivery.attempts == 0 {
            throw NvisyError.conflict("delivery \(deliveryID.text) has not been attempted yet")
        }
        let reset = try await webhooks.retry(delivery)
        return .accepted(.init(body: .json(.init(reset))))
    }

    /// Loads a webhook by id, then checks `permission` in its workspace (404 for non-members).
    func loadWebhook(_ text: String, _ permission: Permission) async throws -> WebhookRecord {
        let id = try pathID(text, "webhookId")
        let context = try context
        _ = try context.requireSignedIn()
        guard let webhook = try await webhooks.repository.find(id: id) else { throw NvisyError.notFound("no webhook \(id.text)") }
        try await context.require(permission, in: webhook.workspaceID)
        return webhook
    }
}

extension Components.Schemas.Webhook {
    init(_ record: WebhookRecord) {
        self.init(id: record.id.text, workspaceId: record.workspaceID.text, url: record.url, eventTypes: record.eventTypes,
                  description: record.description, headers: .init(additionalProperties: Webhooks.headers(of: record)),
                  status: .init(rawValue: record.status.rawValue)!, pausedReason: record.pausedReason, failingSince: record.failingSince,
                  previousSecretExpiresAt: record.previousExpiresAt.flatMap { $0 > Date() ? $0 : nil },
                  createdAt: record.createdAt, updatedAt: record.updatedAt)
    }
}

extension Components.Schemas.WebhookDelivery {
    init(_ record: WebhookDeliveryRecord) {
        self.init(id: record.id.text, webhookId: record.webhookID.text, eventId: record.eventID.text, eventType: record.eventType,
                  status: .init(rawValue: record.status.rawValue)!, attempts: record.attempts, nextAttemptAt: record.nextAttemptAt,
                  lastStatusCode: record.lastStatusCode, lastError: record.lastError, createdAt: record.createdAt,
                  attemptLog: record.attemptLog.map {
                      .init(attempt: $0.attempt, attemptedAt: $0.attemptedAt, statusCode: $0.statusCode, latencyMs: $0.latencyMs,
                            error: $0.error, nextRetryAt: $0.nextRetryAt)
                  })
    }
}
