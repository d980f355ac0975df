import Foundation
import NvisyCore
import NvisyPostgres

/// Seals webhook secrets at rest with the host's `CredentialCipher` (per-workspace key, AAD =
/// the webhook id). Without a cipher (no master key reached the webhook module) secrets are
/// stored as they are, and the row says so.
public struct WebhookSecrets: Sendable {
    let cipher: CredentialCipher?

    public init(cipher: CredentialCipher?) { self.cipher = cipher }

    public func seal(_ secret: WebhookSecret, workspaceID: UUID, webhookID: UUID) throws(NvisyError) -> (bytes: [UInt8], sealed: Bool) {
        guard let cipher else { return (secret.bytes, false) }
        return (try cipher.seal(secret.bytes, workspaceID: workspaceID, recordID: webhookID), true)
    }

    func open(_ bytes: [UInt8], sealed: Bool, workspaceID: UUID, webhookID: UUID) throws(NvisyError) -> WebhookSecret {
        guard sealed else { return WebhookSecret(bytes: bytes) }
        guard let cipher else {
            throw NvisyError.internal("webhook \(webhookID)'s secret is sealed but this host has no master key; start it with the same master key")
        }
        return WebhookSecret(bytes: try cipher.open(bytes, workspaceID: workspaceID, recordID: webhookID))
    }

    /// The secrets that sign now: the current one and, during a rotation's grace period, the previous one.
    public func signing(_ webhook: WebhookRecord, now: Date = Date()) throws(NvisyError) -> [WebhookSecret] {
        var secrets = [try open(webhook.secret, sealed: webhook.secretSealed, workspaceID: webhook.workspaceID, webhookID: webhook.id)]
        if let previous = webhook.previousSecret, let until = webhook.previousExpiresAt, until > now {
            // The previous secret was sealed the same way as the current one was then; try both forms.
            if let opened = try? open(previous, sealed: webhook.secretSealed, workspaceID: webhook.workspaceID, webhookID: webhook.id) {
                secrets.append(opened)
            }
        }
        return secrets
    }
}
