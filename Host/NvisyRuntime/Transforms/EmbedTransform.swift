import Foundation
import NvisyCore
import NvisyPlugins

/// `embed`: each item's text → an embedding from an embedding provider reached through a
/// connection, in batches.
///
/// `params`: `{"connection": "<id>", "text": "/pointer", "batchSize": 64}`. The text is the
/// payload (UTF-8) unless `text` points into the metadata. Each output keeps the item's
/// payload, metadata (plus `embedding: {provider, dimensions, model}`, model as ``EmbeddingModelName``) and resume token, with the
/// vector set. An item without text fails alone; a provider error fails the batch's items with
/// its retry class (transient ones are retried by the executor).
struct EmbedTransform: BuiltinTransform {
    let model: ModelConnection
    let text: TextSource
    let batchSize: Int

    static let spec = BuiltinTransformSpec(name: "embed", accepts: [.document, .record, .object, .embedding], produces: .embedding) { params, context in
        await parse(params, context)
    }

    static func parse(_ params: JSONValue, _ context: BuiltinContext) async -> Result<any BuiltinTransform, BuiltinParamErrors> {
        guard let o = params.objectValue else { return .failure(BuiltinParamErrors("", "embed takes {\"connection\", \"text\", \"batchSize\"}")) }
        var errors: [(String, String)] = o.keys.filter { !["connection", "text", "batchSize"].contains($0) }
            .map { ("/\($0)", "unknown key; embed takes connection, text and batchSize") }
        let text = TextSource.parse(o, errors: &errors)
        var batchSize = 64
        if let v = o["batchSize"] {
            if let n = v.doubleValue, n == n.rounded(), (1...4096).contains(n) { batchSize = Int(n) }
            else { errors.append(("/batchSize", "batchSize is a whole number from 1 to 4096")) }
        }
        let connection = await ModelConnection.resolve(o, kind: .embedding, context: context, errors: &errors)
        guard errors.isEmpty, let connection else { return .failure(BuiltinParamErrors(errors)) }
        return .success(EmbedTransform(model: ModelConnection(host: context.host, connection: connection, kind: .embedding),
                                       text: text, batchSize: batchSize))
    }

    /// The model's batch: one document's chunks (a few dozen) would otherwise make a call each.
    var preferredBatchSize: Int? { batchSize }

    func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
        await apply(items, called: {})
    }

    func apply(_ items: [ProviderItem], called: @Sendable () -> Void) async -> [Result<[ProviderItem], NvisyError>] {
        var told = false
        func tell() {
            if !told { called() }
            told = true
        }
        defer { tell() }  // no text at all, or the last slice failed
        var results = [Result<[ProviderItem], NvisyError>?](repeating: nil, count: items.count)
        var pending: [(index: Int, text: String)] = []
        for (i, item) in items.enumerated() {
            do { pending.append((i, try text.text(of: item))) } catch { results[i] = .failure(error) }
        }
        var start = 0
        while start < pending.count {
            let slice = Array(pending[start..<min(start + batchSize, pending.count)])
            start += slice.count
            do {
                let vectors = try await model.embedding().embed(slice.map(\.text))
                if start == pending.count { tell() }
                guard vectors.count == slice.count else {
                    throw NvisyError(.internal, "the embedding provider answered \(vectors.count) vectors for \(slice.count) texts", retry: .permanent)
                }
                // Each output made in one step, with one `embedding` value per dimension (a model
                // answers one): a JSON pointer and two field writes per item cost 0.5 ms per 128.
                let provider = JSONValue.string(model.connection.provider), name = JSONValue.string(EmbeddingModelName.of(model.connection))
                var embedding = JSONValue.null, dimensions = -1
                for (entry, vector) in zip(slice, vectors) {
                    let item = items[entry.index]
                    if vector.count != dimensions {
                        dimensions = vector.count
                        embedding = ["provider": provider, "dimensions": .number(Double(dimensions)), "model": name]
                    }
                    var fields: [String: JSONValue]
                    switch try? item.jsonMetadata() {
                    case .object(let o)?: fields = o
                    case let other?: fields = ["value": other]
                    case nil: fields = [:]
                    }
                    fields["embedding"] = embedding
                    results[entry.index] = .success([ProviderItem(metadata: .object(fields), payload: item.payload, vector: vector,
                                                                  resumeToken: item.resumeToken)])
                }
            } catch {
                let e = PipelineRun.nvisy(error)
                for entry in slice { results[entry.index] = .failure(e) }
            }
        }
        return results.map { $0 ?? .failure(NvisyError(.internal, "embed: an item got no result", retry: .permanent)) }
    }

    func close() async { await model.close() }
}
