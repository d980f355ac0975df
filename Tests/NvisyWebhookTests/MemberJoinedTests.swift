import Foundation
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import NvisyWebhook
import PostgresNIO
import Testing

@Suite struct MemberJoinedTests {
    @Test func acceptingAnInviteEmitsMemberJoined() async throws {
        let env = try await WebhookEnv.make()
        let receiver = try await Receiver.start()
        let (_, secret) = try await env.webhooks.create(workspaceID: env.workspaceID, url: receiver.url, description: nil,
                                                        eventTypes: ["member.joined"], headers: [:], createdBy: nil)
        let accountID = UUID.v7()
        try await env.client.query("""
            INSERT INTO accounts (id, email, email_key, display_name, password_hash)
            VALUES (\(accountID), 'b@example.com', 'b@example.com', 'B', 'x')
            """, logger: env.logger)
        let invites = InviteRepository(client: env.client, logger: env.logger)
        let invite = try await invites.create(workspaceID: env.workspaceID, email: nil, role: .member, codeHash: "h-\(UUID())",
                                              invitedBy: accountID, expiresAt: Date().addingTimeInterval(3600))
        #expect(try await invites.accept(id: invite.id, accountID: accountID, workspaces: WorkspaceRepository(client: env.client, logger: env.logger)))
        try await env.withService {
            let request = try #require(try await receiver.wait(for: 1).first)
            #expect(ReferenceVerifier.verify(secret: secret.text, headers: request.headers, body: request.body))
            let body = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]
            #expect(body?["type"] as? String == "member.joined")
            let data = body?["data"] as? [String: Any]
            #expect(data?["accountId"] as? String == accountID.uuidString.lowercased())
            #expect(data?["role"] as? String == "member")
        }
        await receiver.stop()
        await env.stop()
    }
}
