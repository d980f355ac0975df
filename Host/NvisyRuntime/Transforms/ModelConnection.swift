import Foundation
import NvisyCore
import NvisyPlugins

/// A model provider reached through a connection, for the `embed`, `extract` and `summarize`
/// built-ins. The compiler checks that the connection exists and that its provider has the
/// right kind; the instance is made on first use (validating a pipeline never calls a model)
/// and closed with the run.
actor ModelConnection {
    let host: PluginHost
    let connection: ResolvedConnection
    let kind: ProviderKind
    private var instance: (any ProviderInstance)?

    init(host: PluginHost, connection: ResolvedConnection, kind: ProviderKind) {
        self.host = host
        self.connection = connection
        self.kind = kind
    }

    /// Resolves `params.connection` and checks its provider is a `kind` provider.
    static func resolve(_ params: [String: JSONValue], kind: ProviderKind, context: BuiltinContext,
                        errors: inout [(String, String)]) async -> ResolvedConnection? {
        guard let id = params["connection"]?.stringValue, !id.isEmpty else {
            errors.append(("/connection", "the id of a connection to a \(kind.rawValue) provider is required"))
            return nil
        }
        let resolved: ResolvedConnection?
        do { resolved = try await context.connections.resolve(id) } catch {
            errors.append(("/connection", "connection \(id) cannot be read now: \(error)"))
            return nil
        }
        guard let resolved else {
            errors.append(("/connection", "there is no connection \(id) in this workspace"))
            return nil
        }
        do {
            let descriptor = try await context.host.provider(resolved.provider)
            if !descriptor.kinds.contains(kind) {
                errors.append(("/connection", "connection \(id) uses \(resolved.provider), which is not a \(kind.rawValue) provider"))
                return nil
            }
        } catch {
            errors.append(("/connection", "connection \(id): \((error as? NvisyError)?.message ?? "\(error)")"))
            return nil
        }
        return resolved
    }

    func embedding() async throws -> any EmbeddingInstance {
        if let i = instance as? any EmbeddingInstance { return i }
        let made = try await host.makeEmbedding(connection.provider, config: connection.config, credentials: connection.credentials)
        instance = made
        return made
    }

    func completion() async throws -> any CompletionInstance {
        if let i = instance as? any CompletionInstance { return i }
        let made = try await host.makeCompletion(connection.provider, config: connection.config, credentials: connection.credentials)
        instance = made
        return made
    }

    func close() async {
        await instance?.close()
        instance = nil
    }
}

/// Where a model built-in takes an item's text from: a metadata pointer (`params.text`), else
/// the payload as UTF-8 (documents and chunks carry their text there).
struct TextSource: Sendable {
    let pointer: JSONPointer?

    static func parse(_ params: [String: JSONValue], errors: inout [(String, String)]) -> TextSource {
        guard let raw = params["text"] else { return TextSource(pointer: nil) }
        guard let text = raw.stringValue, let p = JSONPointer(text) else {
            errors.append(("/text", "text is a JSON pointer into the item's metadata, e.g. \"/body\""))
            return TextSource(pointer: nil)
        }
        return TextSource(pointer: p)
    }

    func text(of item: ProviderItem) throws(NvisyError) -> String {
        if let pointer {
            let meta = try item.jsonMetadata()
            guard let value = pointer.get(meta) else {
                throw NvisyError(.invalidInput, "item \(item.resumeTokenString) has no text at \(pointer)", retry: .permanent)
            }
            return value.stringValue ?? value.jsonText
        }
        guard let text = String(data: item.payload, encoding: .utf8), !text.isEmpty else {
            throw NvisyError(.invalidInput, "item \(item.resumeTokenString) has no UTF-8 text in its payload", retry: .permanent)
        }
        return text
    }
}

extension JSONValue {
    /// Compact JSON text.
    var jsonText: String {
        (try? JSONEncoder().encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
