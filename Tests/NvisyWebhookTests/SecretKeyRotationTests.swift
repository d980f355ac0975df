import Foundation
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import NvisyWebhook
import Testing

/// Webhook secrets follow a master key rotation (`nvisy keys rotate` re-seals them with the
/// connection credentials): sealed with a key id, re-sealed under the new key, still the same
/// secret, readable by a host that has only the new key.
@Suite(.serialized) struct SecretKeyRotationTests {
    @Test func secretsAreResealedUnderTheNewKeyAndStillSign() async throws {
        let env = try await WebhookEnv.make()
        let dir = TestPostgres.temporaryDirectory("wh-keys")
        let oldKey = try MasterKey.generate(), newKey = try MasterKey.generate()
        let primary = dir.appendingPathComponent("master.key").path, pending = dir.appendingPathComponent("master.key.next").path
        try oldKey.write(to: primary)
        let keyring = CredentialKeyring(primary: oldKey, primaryPath: primary, pendingPath: pending)
        let webhooks = Webhooks(client: env.client, keyring: keyring, settings: WebhookEnv.testSettings, logger: env.logger)
        let (hook, secret) = try await webhooks.create(workspaceID: env.workspaceID, url: "https://example.com/hook", description: nil,
                                                       eventTypes: ["*"], headers: [:], createdBy: nil)
        #expect(hook.keyID == CredentialKeyring.keyID(of: oldKey))
        let (rotated, _) = try await webhooks.rotateSecret(hook)      // a previous secret too, sealed with it
        #expect(rotated.previousSecret != nil)

        // The rotation: the new key appears as the pending key; every secret is re-sealed.
        try newKey.write(to: pending)
        let target = keyring.currentKeyID
        #expect(target == CredentialKeyring.keyID(of: newKey))
        let repository = WebhookRepository(client: env.client, logger: env.logger)
        #expect(try await repository.countSealed(notWith: target) == 1)
        let n = try await repository.resealBatch(notWith: target, limit: 10) { workspace, id, keyID, sealed in
            let plain = try keyring.open(sealed, keyID: keyID, workspaceID: workspace, recordID: id)
            return try keyring.seal(plain, workspaceID: workspace, recordID: id).sealed
        }
        #expect(n == 1)
        #expect(try await repository.countSealed(notWith: target) == 0)
        let resealed = try #require(try await repository.find(id: hook.id))
        #expect(resealed.keyID == target)

        // A host that knows only the new key signs with both secrets, unchanged.
        let after = WebhookSecrets(keyring: CredentialKeyring(primary: newKey))
        let signing = try after.signing(resealed)
        #expect(signing.count == 2)
        #expect(signing[1].text == secret.text, "the previous secret is the one created first")
        #expect(signing[0].text == (try WebhookSecrets(keyring: keyring).signing(rotated))[0].text)
        // One with only the old key cannot open them any more.
        #expect(throws: NvisyError.self) { _ = try WebhookSecrets(keyring: CredentialKeyring(primary: oldKey)).signing(resealed) }
        await env.stop()
    }
}
