import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import Testing

@testable import NvisyServer

@Suite("API: accounts, sessions, tokens, workspaces, invites")
struct AuthFlowTests {
    @Test("signup → login → API token → workspace → invite → accept, as the README walks it")
    func fullFlow() async throws {
        let fixture = try await APIFixture.make("api_flow")
        try await fixture.app().test(.router) { client in
            let first = try await client.call(.post, "/api/v1/auth/signup",
                                              json: ["email": "Ada@Example.com", "password": "correct horse battery", "displayName": "Ada"])
            #expect(first.status == .created)
            #expect((first.body["account"] as? [String: Any])?["isInstanceAdmin"] as? Bool == true)
            #expect(first.headers[.xContentTypeOptions] == "nosniff")
            #expect(first.headers[.strictTransportSecurity] != nil)
            #expect(first.headers[.contentSecurityPolicy] != nil)

            let duplicate = try await client.call(.post, "/api/v1/auth/signup",
                                                  json: ["email": "ada@example.com", "password": "correct horse battery", "displayName": "Ada"])
            #expect(duplicate.status == .conflict)

            let login = try await client.call(.post, "/api/v1/auth/login", json: ["email": "ada@example.com", "password": "correct horse battery"])
            #expect(login.status == .ok)
            let session = try #require(login.body["token"] as? String)
            #expect(login.body["expiresAt"] is String)

            let wrong = try await client.call(.post, "/api/v1/auth/login", json: ["email": "ada@example.com", "password": "wrong password!!"])
            #expect(wrong.status == .unauthorized)
            let unknown = try await client.call(.post, "/api/v1/auth/login", json: ["email": "nobody@example.com", "password": "wrong password!!"])
            #expect(unknown.status == .unauthorized)
            #expect(unknown.body["detail"] as? String == wrong.body["detail"] as? String)

            let created = try await client.call(.post, "/api/v1/api-tokens", token: session, json: ["name": "ci", "expiresInDays": 30])
            #expect(created.status == .created)
            let apiToken = try #require(created.body["token"] as? String)
            #expect(apiToken.hasPrefix("nvisy_"))
            let me = try await client.call(.get, "/api/v1/account", token: apiToken)
            #expect(me.status == .ok)
            #expect(me.body["email"] as? String == "Ada@Example.com")
            let tokens = try await client.call(.get, "/api/v1/api-tokens", token: session)
            let listed = try #require((tokens.body["items"] as? [[String: Any]])?.first)
            #expect(listed["lastUsedAt"] is String)
            #expect(listed["token"] == nil)

            let workspace = try await client.call(.post, "/api/v1/workspaces", token: apiToken, json: ["name": "Research", "description": "papers"])
            #expect(workspace.status == .created)
            #expect(workspace.body["role"] as? String == "owner")
            let workspaceID = try #require(workspace.body["id"] as? String)

            let bob = try await client.signup("bob@example.com", name: "Bob")
            #expect(try await client.call(.get, "/api/v1/workspaces/\(workspaceID)", token: bob.token).status == .notFound)

            let invite = try await client.call(.post, "/api/v1/workspaces/\(workspaceID)/invites", token: session,
                                               json: ["email": "bob@example.com", "role": "member"])
            #expect(invite.status == .created)
            let inviteID = try #require((invite.body["invite"] as? [String: Any])?["id"] as? String)
            let mine = try await client.call(.get, "/api/v1/account/invites", token: bob.token)
            #expect((mine.body["items"] as? [[String: Any]])?.count == 1)
            #expect(try await client.call(.post, "/api/v1/invites/\(inviteID)/accept", token: bob.token).status == .ok)
            let asBob = try await client.call(.get, "/api/v1/workspaces/\(workspaceID)", token: bob.token)
            #expect(asBob.body["role"] as? String == "member")

            let shared = try await client.call(.post, "/api/v1/workspaces/\(workspaceID)/invites", token: session, json: ["role": "viewer"])
            let code = try #require(shared.body["code"] as? String)
            let carol = try await client.signup("carol@example.com", name: "Carol")
            let joined = try await client.call(.post, "/api/v1/invites/accept", token: carol.token, json: ["code": code])
            #expect(joined.status == .ok)
            #expect(joined.body["role"] as? String == "viewer")
            #expect(try await client.call(.post, "/api/v1/invites/accept", token: carol.token, json: ["code": code]).status == .conflict)

            let members = try await client.call(.get, "/api/v1/workspaces/\(workspaceID)/members?limit=2", token: carol.token)
            #expect((members.body["items"] as? [Any])?.count == 2)
            let cursor = try #require(members.body["nextCursor"] as? String)
            let rest = try await client.call(.get, "/api/v1/workspaces/\(workspaceID)/members?limit=2&cursor=\(cursor)", token: carol.token)
            #expect((rest.body["items"] as? [Any])?.count == 1)
            #expect(rest.body["nextCursor"] == nil)
            #expect(try await client.call(.get, "/api/v1/workspaces/\(workspaceID)/members?limit=0", token: carol.token).status == .badRequest)

            let activities = try await client.call(.get, "/api/v1/workspaces/\(workspaceID)/activities", token: carol.token)
            let actions = (activities.body["items"] as? [[String: Any]])?.compactMap { $0["action"] as? String } ?? []
            #expect(actions.first == "invite.accepted")
            #expect(actions.contains("workspace.created"))
        }
        await fixture.stop()
    }

    @Test("logout and token revocation take effect on the next request")
    func revocation() async throws {
        let fixture = try await APIFixture.make("api_revoke")
        try await fixture.app().test(.router) { client in
            let ada = try await client.signup("ada@example.com")
            #expect(try await client.call(.get, "/api/v1/account", token: ada.token).status == .ok)
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: ada.token).status == .noContent)
            let after = try await client.call(.get, "/api/v1/account", token: ada.token)
            #expect(after.status == .unauthorized)
            #expect(after.headers[.contentType] == "application/problem+json")

            let login = try await client.call(.post, "/api/v1/auth/login", json: ["email": "ada@example.com", "password": "correct horse battery"])
            let session = try #require(login.body["token"] as? String)
            let created = try await client.call(.post, "/api/v1/api-tokens", token: session, json: ["name": "script"])
            let token = try #require(created.body["token"] as? String)
            let id = try #require((created.body["apiToken"] as? [String: Any])?["id"] as? String)
            #expect(try await client.call(.get, "/api/v1/account", token: token).status == .ok)
            #expect(try await client.call(.delete, "/api/v1/api-tokens/\(id)", token: session).status == .noContent)
            #expect(try await client.call(.get, "/api/v1/account", token: token).status == .unauthorized)
        }
        await fixture.stop()
    }

    @Test("expired, tampered, alg:none and HS256-with-the-public-key tokens are rejected")
    func forgedTokens() async throws {
        let fixture = try await APIFixture.make("api_jwt")
        try await fixture.app().test(.router) { client in
            let ada = try await client.signup("ada@example.com")
            let parts = ada.token.split(separator: ".").map(String.init)
            #expect(parts.count == 3)
            let payload = try #require(Data(base64URLEncoded: parts[1]))
            var claims = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])

            func b64(_ object: Any) throws -> String { try JSONSerialization.data(withJSONObject: object).base64URLEncodedString() }

            // Tampered: another subject with the original signature.
            claims["sub"] = UUID().uuidString.lowercased()
            let tampered = [parts[0], try b64(claims), parts[2]].joined(separator: ".")
            // alg: none.
            let none = [try b64(["alg": "none", "typ": "JWT"]), parts[1], ""].joined(separator: ".")
            // HS256 keyed with the public key.
            let header = try b64(["alg": "HS256", "typ": "JWT"])
            let key = SymmetricKey(data: try #require(Data(base64URLEncoded: fixture.api.keys.publicKeyX)))
            let mac = HMAC<SHA256>.authenticationCode(for: Data("\(header).\(parts[1])".utf8), using: key)
            let hs256 = "\(header).\(parts[1]).\(Data(mac).base64URLEncodedString())"
            // Expired: properly signed, but in the past.
            let session = try await fixture.api.sessions.create(accountID: try #require(UUID(uuidString: ada.id)), expiresAt: Date().addingTimeInterval(3600))
            let expired = try await fixture.api.keys.sign(accountID: try #require(UUID(uuidString: ada.id)), sessionID: session,
                                                          issuedAt: Date().addingTimeInterval(-7200), expiresAt: Date().addingTimeInterval(-3600))
            // Signed by another key.
            let foreign = try await SessionKeys.ephemeral().sign(accountID: try #require(UUID(uuidString: ada.id)), sessionID: session,
                                                                  issuedAt: Date(), expiresAt: Date().addingTimeInterval(3600))
            for (name, token) in [("tampered", tampered), ("none", none), ("hs256", hs256), ("expired", expired), ("foreign key", foreign),
                                  ("garbage", "abc"), ("unknown api token", "nvisy_abc")] {
                let answer = try await client.call(.get, "/api/v1/account", token: token)
                #expect(answer.status == .unauthorized, "\(name) token was accepted")
            }
            #expect(try await client.call(.get, "/api/v1/account", token: ada.token).status == .ok)
        }
        await fixture.stop()
    }

    @Test("validation names the field; weak passwords are refused; bodies and rates are limited")
    func validationAndLimits() async throws {
        let fixture = try await APIFixture.make("api_valid") { settings in
            settings.authAttemptsPerAccount = 3
            settings.maxBodyBytes = 4096
            settings.corsOrigins = ["https://app.example.com"]
        }
        try await fixture.app().test(.router) { client in
            let bad = try await client.call(.post, "/api/v1/auth/signup", json: ["email": "not-an-email", "password": "password123", "displayName": ""])
            #expect(bad.status == .badRequest)
            #expect(bad.headers[.contentType] == "application/problem+json")
            let pointers = Set(((bad.body["errors"] as? [[String: Any]]) ?? []).compactMap { $0["pointer"] as? String })
            #expect(pointers == ["/email", "/password", "/displayName"])

            let missing = try await client.call(.post, "/api/v1/auth/signup", json: ["email": "a@example.com", "password": "x"])
            #expect(missing.status == .badRequest)
            #expect(((missing.body["errors"] as? [[String: Any]])?.first?["pointer"] as? String) == "/displayName")

            let ada = try await client.signup("ada@example.com")
            let badRole = try await client.call(.post, "/api/v1/workspaces", token: ada.token, json: ["name": "W"])
            let id = try #require(badRole.body["id"] as? String)
            let enumError = try await client.call(.post, "/api/v1/workspaces/\(id)/invites", token: ada.token, json: ["role": "emperor"])
            #expect(enumError.status == .badRequest)

            let huge = try await client.call(.post, "/api/v1/workspaces", token: ada.token,
                                             json: ["name": String(repeating: "x", count: 10_000)])
            #expect(huge.status == .contentTooLarge)

            var statuses: [HTTPResponse.Status] = []
            var retryAfter: String?
            for _ in 0..<5 {
                let answer = try await client.call(.post, "/api/v1/auth/login", json: ["email": "ada@example.com", "password": "wrong password!!"])
                statuses.append(answer.status)
                if answer.status == .tooManyRequests { retryAfter = answer.headers[.retryAfter] }
            }
            #expect(statuses.prefix(3).allSatisfy { $0 == .unauthorized })
            #expect(statuses.last == .tooManyRequests)
            #expect(retryAfter.flatMap(Int.init).map { $0 > 0 && $0 <= 60 } == true)

            let preflight = try await client.call(.options, "/api/v1/workspaces", headers: [
                .origin: "https://app.example.com", .accessControlRequestMethod: "POST"])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example.com")
            let other = try await client.call(.get, "/api/openapi.json", headers: [.origin: "https://evil.example.com"])
            #expect(other.headers[.accessControlAllowOrigin] == nil)
        }
        await fixture.stop()
    }

    @Test("/api/openapi.json is OpenAPI 3.1 and /api/docs serves Swagger UI from the venv")
    func specAndDocs() async throws {
        let venv = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".venv")
        let fixture = try await APIFixture.make("api_docs") { $0.venvDirectory = venv }
        try await fixture.app().test(.router) { client in
            let spec = try await client.call(.get, "/api/openapi.json")
            #expect(spec.status == .ok)
            #expect(spec.body["openapi"] as? String == "3.1.0")
            #expect((spec.body["paths"] as? [String: Any])?["/api/v1/auth/signup"] != nil)
            if OpenAPIDocsController.findSwaggerUI(in: venv) != nil {
                try await client.execute(uri: "/api/docs", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains("swagger-ui-bundle.js"))
                }
                try await client.execute(uri: "/api/docs/swagger-ui-bundle.js", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.readableBytes > 100_000)
                }
            }
        }
        await fixture.stop()
    }
}
