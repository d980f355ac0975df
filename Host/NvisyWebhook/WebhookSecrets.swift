import Foundation
import NvisyCore
import NvisyPostgres

/// Seals webhook secrets at rest with the master keyring (per-workspace key, AAD = the webhook
/// id), recording the id of the key that sealed them so that `nvisy keys rotate` re-seals them
/// and a host opens each with the key it was sealed under. Without a keyring (no master key
/// reached the webhook module) secrets are stored as they are, and the row says so.
public struct WebhookSecrets: Sendable {
    let keyring: CredentialKeyring?

    public init(keyring: CredentialKeyring?) { self.keyring = keyring }

    public func seal(_ secret: WebhookSecret, workspaceID: UUID, webhookID: UUID) throws(NvisyError) -> (bytes: [UInt8], sealed: Bool, keyID: String?) {
        guard let keyring else { return (secret.bytes, false, nil) }
        let (sealed, keyID) = try keyring.seal(secret.bytes, workspaceID: workspaceID, recordID: webhookID)
        return (sealed, true, keyID)
    }

    func open(_ bytes: [UInt8], sealed: Bool, keyID: String?, workspaceID: UUID, webhookID: UUID) throws(NvisyError) -> WebhookSecret {
        guard sealed else { return WebhookSecret(bytes: bytes) }
        guard let keyring else {
            throw NvisyError.internal("webhook \(webhookID)'s secret is sealed but this host has no master key; start it with the same master key")
        }
        return WebhookSecret(bytes: try keyring.open(bytes, keyID: keyID, workspaceID: workspaceID, recordID: webhookID))
    }

    /// The secrets that sign now: the current one and, during a rotation's grace period, the previous one.
    public func signing(_ webhook: WebhookRecord, now: Date = Date()) throws(NvisyError) -> [WebhookSecret] {
        var secrets = [try open(webhook.secret, sealed: webhook.secretSealed, keyID: webhook.keyID, workspaceID: webhook.workspaceID,
                                webhookID: webhook.id)]
        if let previous = webhook.previousSecret, let until = webhook.previousExpiresAt, until > now {
            // Both secrets are sealed together, under the same key.
            if let opened = try? open(previous, sealed: webhook.secretSealed, keyID: webhook.keyID, workspaceID: webhook.workspaceID,
                                      webhookID: webhook.id) {
                secrets.append(opened)
            }
        }
        return secrets
    }
}
