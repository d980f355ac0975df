import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NvisyCore
import Testing

@testable import NvisyServer

/// Hostile bodies and headers through the real router, against real PostgreSQL, a real
/// nats-server and the dlopen'd plugins: every answer is a success or a 4xx problem+json that
/// says what is wrong — never a 5xx, never a dropped connection.
@Suite("Fuzz: HTTP bodies and headers", .serialized, .timeLimit(.minutes(30)))
struct HTTPFuzzTests {
    /// The statuses hostile input may get: a success when the mutation happens to be valid, else a
    /// client error (413 too large, 415 wrong type, 429 when the fuzzer trips a rate limit).
    static let clientErrors: Set<Int> = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]

    /// Checks one answer; throws a ``FuzzFailure`` naming the request.
    static func check(_ what: String, _ response: TestResponse, input: [UInt8]) throws {
        let status = Int(response.status.code)
        if (200..<300).contains(status) { return }
        guard clientErrors.contains(status) else {
            throw FuzzFailure("\(what): \(status) \(String(buffer: response.body).prefix(600))", input: input)
        }
        guard response.headers[.contentType]?.hasPrefix("application/problem+json") == true,
              let problem = try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any],
              problem["status"] as? Int == status, let detail = problem["detail"] as? String, !detail.isEmpty
        else { throw FuzzFailure("\(what): \(status) without a problem+json detail: \(String(buffer: response.body).prefix(600))", input: input) }
        // A validation problem names the field (a JSON pointer) when it lists errors.
        if let errors = problem["errors"] as? [[String: Any]],
           !errors.allSatisfy({ ($0["pointer"] as? String)?.hasPrefix("/") == true && !(($0["message"] as? String) ?? "").isEmpty }) {
            throw FuzzFailure("\(what): errors without pointer or message: \(errors)", input: input)
        }
    }

    @Test("JSON bodies of pipelines, runs, webhooks, connections and auth: success or a 4xx problem")
    func jsonBodies() async throws {
        let fixture = try await PipelinesAPITests.Fixture.make("fuzz_json")
        try await fixture.content.app().test(.router) { client in
            let (token, _) = try await client.signup("fuzz@example.com")
            let ws = try await client.workspace(token)
            let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("nvisy-fuzz-\(UUID().uuidString)")
            let conn = try await PipelinesAPITests().connection(client, token, ws, "files", root: root)
            let definition = #"{"nodes":[{"id":"in","kind":"source","connection":"\#(conn)"},{"id":"f","kind":"transform","transform":"filter","params":{"where":{">=":[{"var":"/size"},1]}}},{"id":"out","kind":"sink","connection":"\#(conn)"}],"edges":[{"from":"in","to":"f"},{"from":"f","to":"out"}]}"#
            var answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/pipelines", token: token,
                                               json: ["name": "p", "status": "enabled",
                                                      "definition": try JSONSerialization.jsonObject(with: Data(definition.utf8))])
            let pipeline = try #require(answer.body["id"] as? String, "\(answer.body)")
            answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/webhooks", token: token,
                                           json: ["url": "https://example.com/hook", "eventTypes": ["*"]])
            let webhook = try #require((answer.body["webhook"] as? [String: Any])?["id"] as? String, "\(answer.body)")

            let targets: [(HTTPRequest.Method, String, [String])] = [
                (.post, "/api/v1/workspaces/\(ws)/pipelines", [
                    #"{"name":"p","definition":\#(definition)}"#,
                    #"{"name":"p","status":"enabled","description":"d","definition":\#(definition),"triggers":{"schedule":"*/5 * * * *","onFileUpload":true}}"#,
                ]),
                (.patch, "/api/v1/pipelines/\(pipeline)", [
                    #"{"definition":\#(definition),"status":"enabled"}"#, #"{"status":"disabled"}"#,
                    #"{"triggers":{"schedule":"0 0 29 2 *","onFileUpload":false},"name":"q"}"#,
                ]),
                (.post, "/api/v1/pipelines/\(pipeline)/validate", ["{}", ""]),
                (.post, "/api/v1/pipelines/\(pipeline)/runs", ["{}", ""]),
                (.post, "/api/v1/workspaces/\(ws)/webhooks", [
                    #"{"url":"https://example.com/h","eventTypes":["pipeline.run.*","file.uploaded"],"description":"d","headers":{"X-A":"b"}}"#,
                ]),
                (.patch, "/api/v1/webhooks/\(webhook)", [#"{"url":"http://127.0.0.1:1/x","eventTypes":["*"],"enabled":false}"#]),
                (.post, "/api/v1/workspaces/\(ws)/connections", [
                    #"{"name":"c","provider":"filesystem/files","config":{"root":"\#(root.path)","glob":"*.csv"}}"#,
                    #"{"name":"c","provider":"postgres/table","config":{"url":"postgres://u@127.0.0.1:1/db","table":"t","key":"id"},"credentials":{"password":"x"}}"#,
                ]),
                (.post, "/api/v1/auth/login", [#"{"email":"fuzz@example.com","password":"correct horse battery"}"#]),
                (.post, "/api/v1/workspaces", [#"{"name":"w","description":"d"}"#]),
            ]
            for (method, uri, samples) in targets {
                let mutator = FuzzMutator(samples: samples, tokens: [#""status":"enabled","#, #""definition":"#, #""name":"#, #""url":"#,
                                                                     #""eventTypes":[],"#, #""config":"#, #""triggers":"#, #""schedule":"#])
                var statuses: [Int: Int] = [:]
                let name = "\(method) \(uri.split(separator: "/").filter { !$0.contains("-") }.joined(separator: "/"))"
                await FuzzRun.cases(name, 200) { rng, _ in
                    let input = mutator.next(&rng)
                    var headers: HTTPFields = [.authorization: "Bearer \(token)"]
                    headers[.contentType] = rng.chance(0.95) ? "application/json" : rng.pick(["text/plain", "application/json; charset=latin1", "", "multipart/form-data"])
                    let response = try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: input)) { $0 }
                    try Self.check("\(method) \(uri)", response, input: input)
                    statuses[Int(response.status.code), default: 0] += 1
                }
                print("fuzz \(name) answers: \(statuses.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))")
            }
            // The server still answers normally afterwards.
            answer = try await client.call(.get, "/api/v1/workspaces/\(ws)", token: token)
            #expect(answer.status == .ok)
        }
        await fixture.stop()
    }

    @Test("multipart uploads: a stored file or a 4xx problem, never half-written")
    func multipartUploads() async throws {
        let fixture = try await PipelinesAPITests.Fixture.make("fuzz_form")
        try await fixture.content.app().test(.router) { client in
            let (token, _) = try await client.signup("form@example.com")
            let ws = try await client.workspace(token)
            let boundary = TokenAndFormFuzzTests.boundary
            var stored = 0
            await FuzzRun.cases("POST files multipart", 400) { rng, _ in
                let input = TokenAndFormFuzzTests.forms.next(&rng)
                let headers: HTTPFields = [.authorization: "Bearer \(token)",
                                           .contentType: rng.chance(0.9) ? "multipart/form-data; boundary=\(boundary)"
                                               : rng.pick(["multipart/form-data", "multipart/form-data; boundary=\"\"", "multipart/mixed; boundary=\(boundary)"])]
                let response = try await client.execute(uri: "/api/v1/workspaces/\(ws)/files", method: .post, headers: headers, body: ByteBuffer(bytes: input)) { $0 }
                try Self.check("POST files", response, input: input)
                if response.status == .created { stored += 1 }
            }
            // Every refused form left nothing behind: the workspace lists exactly the stored files.
            var listed = 0
            var cursor: String?
            repeat {
                let page = try await client.call(.get, "/api/v1/workspaces/\(ws)/files?limit=100" + (cursor.map { "&cursor=\($0)" } ?? ""), token: token)
                #expect(page.status == .ok)
                listed += (page.body["items"] as? [Any])?.count ?? 0
                cursor = page.body["nextCursor"] as? String
            } while cursor != nil
            #expect(listed == stored, "\(stored) uploads answered 201, \(listed) files listed")
            #expect(stored > 0)
        }
        await fixture.stop()
    }

    @Test("a method the spec does not declare on a path it has: 405 problem with Allow, not 404")
    func undeclaredMethods() async throws {
        let fixture = try await APIFixture.make("fuzz_methods")
        try await fixture.app().test(.router) { client in
            #expect(SpecRouteMethods.routes.count > 40)
            for route in SpecRouteMethods.routes {
                let path = "/" + route.segments.map { $0.first == "{" ? UUID().uuidString.lowercased() : String($0) }.joined(separator: "/")
                // The router also sends `DELETE /invites/accept` to `/invites/{inviteId}`: test only
                // methods no template of the path declares (Allow names the most specific one's).
                let declared = SpecRouteMethods.routes.filter { $0.segments.count == route.segments.count }
                    .filter { zip($0.segments, path.split(separator: "/")).allSatisfy { $0.first == "{" || $0 == $1 } }
                    .flatMap(\.methods)
                for method in [HTTPRequest.Method.trace, .put, .delete] where !declared.contains(method.rawValue) {
                    let response = try await client.execute(uri: path, method: method, headers: [:], body: nil) { $0 }
                    #expect(response.status.code == 405, "\(method) \(path): \(response.status)")
                    #expect(response.headers[.allow] == SpecRouteMethods.allowed(for: path)?.joined(separator: ", "), "\(method) \(path)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            #expect(SpecRouteMethods.allowed(for: "/api/v1/invites/accept") == ["POST"])
            // A path the API does not have stays a 404.
            let response = try await client.execute(uri: "/api/v1/nothing-here", method: .trace, headers: [:], body: nil) { $0 }
            #expect(response.status == .notFound)
        }
        await fixture.stop()
    }

    @Test("hostile Authorization headers: 401 problem, never another status")
    func authorizationHeaders() async throws {
        let fixture = try await APIFixture.make("fuzz_auth")
        try await fixture.app().test(.router) { client in
            let (token, _) = try await client.signup("auth@example.com")
            let mutator = FuzzMutator(samples: ["Bearer " + token, "Bearer " + token, "Bearer nvisy_" + String(repeating: "a", count: 43), "Basic dXNlcjpwYXNz"],
                                      tokens: ["Bearer ", "bearer", " ", ".", "\t", "eyJhbGciOiJub25lIn0"])
            var refused = 0
            await FuzzRun.cases("Authorization header", 1_000) { rng, _ in
                let input = mutator.next(&rng)
                // HTTP field values cannot hold CR, LF or NUL: the HTTP parser refuses those before nvisy sees them
                // (other invalid bytes are legalised by HTTPTypes, as they would be on the wire).
                let value = String(decoding: input.filter { $0 != 0x0D && $0 != 0x0A && $0 != 0x00 }, as: UTF8.self)
                let response = try await client.execute(uri: "/api/v1/account", method: .get, headers: [.authorization: value]) { $0 }
                if response.status == .ok { return }  // a mutation that left the token intact
                guard response.status == .unauthorized else {
                    throw FuzzFailure("GET /account: \(response.status) \(String(buffer: response.body).prefix(300))", input: input)
                }
                try Self.check("GET /account", response, input: input)
                refused += 1
            }
            #expect(refused > 600 * FuzzRun.scale)
        }
        await fixture.stop()
    }
}
