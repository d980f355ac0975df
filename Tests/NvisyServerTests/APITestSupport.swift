import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyTestSupport

@testable import NvisyServer

/// A fresh database with the schema, and the API's dependencies over it.
struct APIFixture {
    let database: NvisyDatabase
    let api: APIDependencies
    let pool: Task<Void, Never>

    static func make(_ prefix: String, configure: (inout APISettings) -> Void = { _ in }) async throws -> APIFixture {
        let url = try await TestPostgres.freshDatabase(prefix)
        let database = NvisyDatabase(url: try DatabaseURL(url), logger: TestPostgres.logger)
        let pool = Task { await database.client.run() }
        try await database.migrate()
        var settings = APISettings()
        settings.hsts = true
        configure(&settings)
        let api = APIDependencies(client: database.client, keys: await SessionKeys.ephemeral(), hasher: try PasswordHasher.fastForTests(),
                                  settings: settings, logger: TestPostgres.logger)
        return APIFixture(database: database, api: api, pool: pool)
    }

    func app(plugins: PluginHost? = nil) -> some ApplicationProtocol {
        let config = try! ConfigurationLoader(flags: [:], environment: [:]).load()
        var deps = ApplicationDependencies()
        deps.api = api
        deps.plugins = plugins
        return buildApplication(configuration: config, dependencies: deps, logger: TestPostgres.logger)
    }

    func stop() async {
        pool.cancel()
        await pool.value
    }
}

extension TestClientProtocol {
    /// Sends JSON (or nothing) with an optional bearer token; returns status, headers and the parsed body.
    @discardableResult
    func call(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: Any? = nil,
              headers extra: HTTPFields = [:]) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: [String: Any]) {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { response in
            let data = Data(buffer: response.body)
            let object = data.isEmpty ? [:] : ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? ["_raw": String(decoding: data, as: UTF8.self)])
            return (response.status, response.headers, object)
        }
    }

    /// Signs up and returns (token, account id).
    func signup(_ email: String, password: String = "correct horse battery", name: String = "Test") async throws -> (token: String, id: String) {
        let answer = try await call(.post, "/api/v1/auth/signup", json: ["email": email, "password": password, "displayName": name])
        guard answer.status == .created, let token = answer.body["token"] as? String,
              let id = (answer.body["account"] as? [String: Any])?["id"] as? String
        else { throw NvisyError.internal("signup failed: \(answer.status) \(answer.body)") }
        return (token, id)
    }
}
