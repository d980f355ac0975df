import Foundation
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import OpenAPIRuntime

/// Connections: a provider, its config (checked against the provider's schema) and credentials
/// (checked against its credentials schema, then sealed with the workspace key, associated data
/// = the connection id). Credentials are opened only to make a provider instance (`check`); no
/// answer, log line or error message ever carries them.
extension APIHandler {
    func createConnection(_ input: Operations.CreateConnection.Input) async throws -> Operations.CreateConnection.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        let context = try context
        let me = try context.requireSignedIn()
        try await context.require(.manageConnections, in: workspaceID)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.name, at: "/name", max: 100) ?? ""
        let provider = check.text(body.provider, at: "/provider", max: 200) ?? ""
        if !provider.isEmpty, provider.split(separator: "/").count != 2 { check.fail("/provider", "must be plugin/provider, e.g. filesystem/files") }
        try check.check()
        let config = try JSONValue(openAPI: body.config)
        let credentials = try body.credentials.map { try JSONValue(openAPI: $0) }
        try await validateProvider(provider, config: config, credentials: credentials)
        let id = UUID.v7()
        let sealed = try seal(credentials, workspaceID: workspaceID, connectionID: id)
        let saved = try await deps.connections.create(
            id: id, workspaceID: workspaceID, name: name, provider: provider, configJSON: config.jsonText,
            sealedCredentials: sealed?.sealed, credentialFields: credentials.fieldNames, keyID: sealed?.keyID, createdBy: me.accountID)
        await record(workspaceID, me, "connection.created", targetType: "connection", targetID: id, details: ["name": name, "provider": provider])
        return .created(.init(body: .json(try .init(saved))))
    }

    func listConnections(_ input: Operations.ListConnections.Input) async throws -> Operations.ListConnections.Output {
        let workspaceID = try pathID(input.path.workspaceId, "workspaceId")
        try await context.require(.view, in: workspaceID)
        let page = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let result = try await deps.connections.list(workspaceID: workspaceID, provider: input.query.provider, after: page.after, limit: page.limit)
        return .ok(.init(body: .json(.init(items: try result.items.map(Components.Schemas.Connection.init), nextCursor: PageRequest.encode(result.nextAfter)))))
    }

    func getConnection(_ input: Operations.GetConnection.Input) async throws -> Operations.GetConnection.Output {
        let connection = try await loadConnection(input.path.connectionId, .view)
        return .ok(.init(body: .json(try .init(connection))))
    }

    func updateConnection(_ input: Operations.UpdateConnection.Input) async throws -> Operations.UpdateConnection.Output {
        let existing = try await loadConnection(input.path.connectionId, .manageConnections)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        var check = Validation()
        let name = check.text(body.name, at: "/name", max: 100)
        try check.check()
        var configJSON: String?
        if let raw = body.config {
            let config = try JSONValue(openAPI: raw)
            try await validateProvider(existing.provider, config: config, credentials: nil)
            configJSON = config.jsonText
        }
        guard let saved = try await deps.connections.update(id: existing.id, name: name, configJSON: configJSON) else {
            throw NvisyError.notFound("no connection \(existing.id.text)")
        }
        var details: [String: String] = [:]
        if let name { details["name"] = name }
        if configJSON != nil { details["config"] = "changed" }
        await record(existing.workspaceID, try context.requireSignedIn(), "connection.updated", targetType: "connection", targetID: existing.id, details: details)
        return .ok(.init(body: .json(try .init(saved))))
    }

    func deleteConnection(_ input: Operations.DeleteConnection.Input) async throws -> Operations.DeleteConnection.Output {
        let existing = try await loadConnection(input.path.connectionId, .manageConnections)
        guard try await deps.connections.delete(id: existing.id) else { throw NvisyError.notFound("no connection \(existing.id.text)") }
        await record(existing.workspaceID, try context.requireSignedIn(), "connection.deleted", targetType: "connection", targetID: existing.id,
                     details: ["name": existing.name])
        return .noContent(.init())
    }

    func setConnectionCredentials(_ input: Operations.SetConnectionCredentials.Input) async throws -> Operations.SetConnectionCredentials.Output {
        let existing = try await loadConnection(input.path.connectionId, .manageConnections)
        guard case .json(let body) = input.body else { throw NvisyError.invalidInput("expected a JSON body") }
        let credentials = try JSONValue(openAPI: body)
        let empty = credentials.objectValue?.isEmpty ?? true
        if !empty {
            let config = try JSONValue(json: existing.configJSON)
            try await validateProvider(existing.provider, config: config, credentials: credentials)
        }
        let sealed = empty ? nil : try seal(credentials, workspaceID: existing.workspaceID, connectionID: existing.id)
        guard let saved = try await deps.connections.setCredentials(
            id: existing.id, sealed: sealed?.sealed, fields: empty ? [] : credentials.fieldNames, keyID: sealed?.keyID) else {
            throw NvisyError.notFound("no connection \(existing.id.text)")
        }
        await record(existing.workspaceID, try context.requireSignedIn(), empty ? "connection.credentials_removed" : "connection.credentials_set",
                     targetType: "connection", targetID: existing.id, details: ["fields": saved.credentialFields.joined(separator: ",")])
        return .ok(.init(body: .json(try .init(saved))))
    }

    func checkConnection(_ input: Operations.CheckConnection.Input) async throws -> Operations.CheckConnection.Output {
        let existing = try await loadConnection(input.path.connectionId, .runPipelines)
        guard let plugins = deps.plugins else { throw NvisyError.unavailable("no plugins are loaded on this host") }
        let config = try JSONValue(json: existing.configJSON)
        let credentials = try openCredentials(existing)
        let timeout = deps.settings.connectionCheckTimeout
        let started = ContinuousClock.now
        var failure: NvisyError?
        do {
            try await Self.within(timeout) {
                let instance = try await plugins.makeInstance(existing.provider, config: config, credentials: credentials,
                                                              options: ProviderCallOptions(timeout: timeout))
                do {
                    try await instance.check()
                } catch {
                    await instance.close()
                    throw error
                }
                await instance.close()
            }
        } catch let error as NvisyError {
            failure = error
        } catch is CancellationError {
            failure = .unavailable("the check did not finish within \(timeout.components.seconds) s")
        } catch {
            failure = .internal("the check failed: \(error)")
        }
        let elapsed = ContinuousClock.now - started
        let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        guard let failure else { return .ok(.init(body: .json(.init(ok: true, durationMs: ms)))) }
        let message = Self.redact(failure.message, secrets: credentials)
        // For webhooks: connection.check_failed (the redacted message only, never a credential).
        do {
            let data = ["connectionId": existing.id.text, "name": existing.name, "provider": existing.provider,
                        "kind": failure.kind.rawValue, "retry": failure.retry.rawValue, "message": message]
            try await Outbox.record(try OutboxEvent(workspaceID: existing.workspaceID, type: "connection.check_failed", data: data),
                                    client: deps.connections.client, logger: try context.logger)
        } catch {
            APIRequest.context?.logger.warning("cannot record connection.check_failed", metadata: ["error": "\(error)"])
        }
        return .ok(.init(body: .json(.init(ok: false, durationMs: ms, error: .init(
            kind: failure.kind.rawValue, retry: .init(rawValue: failure.retry.rawValue) ?? .permanent, message: message)))))
    }

    // MARK: Helpers

    /// Loads a connection by id and checks `permission` in its workspace (404 for non-members).
    func loadConnection(_ text: String, _ permission: Permission) async throws -> ConnectionRecord {
        let id = try pathID(text, "connectionId")
        let context = try context
        _ = try context.requireSignedIn()
        guard let connection = try await deps.connections.find(id: id) else { throw NvisyError.notFound("no connection \(id.text)") }
        try await context.require(permission, in: connection.workspaceID)
        return connection
    }

    /// The provider exists and accepts the config (and credentials, when given); errors point at `/config/...`.
    func validateProvider(_ provider: String, config: JSONValue, credentials: JSONValue?) async throws {
        guard let plugins = deps.plugins else { throw NvisyError.unavailable("no plugins are loaded on this host; connections cannot be checked") }
        do {
            _ = try await plugins.provider(provider)
        } catch let error as NvisyError where error.kind == .notFound {
            throw NvisyError.invalidInput(error.message, pointer: "/provider")
        }
        do {
            _ = try await plugins.validate(provider, config: config, credentials: credentials)
        } catch var error as NvisyError {
            if credentials == nil { error.fieldErrors.removeAll { $0.pointer.hasPrefix("/credentials") } }
            if error.fieldErrors.isEmpty && credentials == nil { return }
            throw error
        }
    }

    /// Seals credentials (nil when there are none).
    func seal(_ credentials: JSONValue?, workspaceID: UUID, connectionID: UUID) throws(NvisyError) -> (sealed: [UInt8], keyID: String)? {
        guard let credentials, let fields = credentials.objectValue, !fields.isEmpty else { return nil }
        guard let keyring = deps.keyring else { throw NvisyError.unavailable("this host has no master key; credentials cannot be stored") }
        return try keyring.seal(Array(credentials.jsonText.utf8), workspaceID: workspaceID, recordID: connectionID)
    }

    /// The connection's credentials, opened (only to make a provider instance).
    func openCredentials(_ connection: ConnectionRecord) throws(NvisyError) -> JSONValue {
        guard let sealed = connection.sealedCredentials else { return [:] }
        guard let keyring = deps.keyring else { throw NvisyError.unavailable("this host has no master key; credentials cannot be opened") }
        let plain = try keyring.open(sealed, keyID: connection.keyID, workspaceID: connection.workspaceID, recordID: connection.id)
        return try JSONValue(json: String(decoding: plain, as: UTF8.self))
    }

    /// Runs `body`, cancelling it after `timeout` (then throws CancellationError).
    static func within(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await body(); return true }
            group.addTask { try await Task.sleep(for: timeout); return false }
            let finished = try await group.next()!
            group.cancelAll()
            if !finished { throw CancellationError() }
        }
    }

    /// `text` with every credential string value (4+ characters) replaced, in case a provider echoed one.
    static func redact(_ text: String, secrets: JSONValue) -> String {
        var out = text
        func walk(_ value: JSONValue) {
            switch value {
            case .string(let s) where s.count >= 4: out = out.replacingOccurrences(of: s, with: "[redacted]")
            case .array(let items): items.forEach(walk)
            case .object(let members): members.values.forEach(walk)
            default: break
            }
        }
        walk(secrets)
        return out
    }
}

// MARK: JSON between the spec's free-form objects and JSONValue

extension JSONValue {
    /// A spec free-form object (`OpenAPIObjectContainer` or a generated payload) as a JSONValue.
    init<T: Encodable>(openAPI value: T) throws(NvisyError) {
        do {
            let data = try JSONEncoder().encode(value)
            self = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch { throw NvisyError.invalidInput("the body is not valid JSON") }
    }

    init(json text: String) throws(NvisyError) {
        do { self = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) } catch {
            throw NvisyError.internal("stored JSON cannot be read: \(error)")
        }
    }

    /// Compact JSON text with sorted keys.
    var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// This value decoded as another Decodable type (a spec payload).
    func decoded<T: Decodable>(as type: T.Type) throws(NvisyError) -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(jsonText.utf8)) } catch {
            throw NvisyError.internal("JSON does not fit \(T.self): \(error)")
        }
    }
}

extension Optional where Wrapped == JSONValue {
    /// The top-level field names of a credentials object, sorted.
    var fieldNames: [String] { (self?.objectValue?.keys).map { $0.sorted() } ?? [] }
}

extension JSONValue {
    var fieldNames: [String] { (objectValue?.keys).map { $0.sorted() } ?? [] }
}

extension Components.Schemas.Connection {
    init(_ record: ConnectionRecord) throws {
        let config = try JSONValue(json: record.configJSON)
        self.init(id: record.id.text, workspaceId: record.workspaceID.text, name: record.name, provider: record.provider,
                  config: try config.decoded(as: OpenAPIObjectContainer.self),
                  credentials: .init(set: record.sealedCredentials != nil, fields: record.credentialFields),
                  createdAt: record.createdAt, updatedAt: record.updatedAt)
    }
}
