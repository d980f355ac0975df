import Foundation
import NvisyCore
import NvisyPlugins

/// `summarize` and `extract`: each item's text through a prompt template to a completion
/// provider reached through a connection; the answer goes into the item's metadata.
///
/// `params`: `{"connection": "<id>", "prompt": "… {{text}} … {{/title}} …", "into": "/summary",
/// "text": "/pointer", "maxTokens": 256}`. In the template `{{text}}` is the item's text (as
/// for `embed`) and `{{/pointer}}` a metadata value. `summarize` has a default prompt and puts
/// the answer at `/summary`; `extract` needs a prompt, puts the answer at `/extracted`, and
/// stores it as JSON when the answer parses as JSON (ask the model for a JSON object).
struct CompletionTransform: BuiltinTransform {
    enum Mode: String, Sendable { case summarize, extract }
    let mode: Mode
    let model: ModelConnection
    let text: TextSource
    let prompt: String
    let into: JSONPointer
    let maxTokens: Int?

    static let defaultSummaryPrompt = "Summarize the following text in a few sentences. Answer with the summary only.\n\n{{text}}"

    static func spec(_ mode: Mode) -> BuiltinTransformSpec {
        BuiltinTransformSpec(name: mode.rawValue, accepts: nil, produces: nil) { params, context in await parse(mode, params, context) }
    }

    static func parse(_ mode: Mode, _ params: JSONValue, _ context: BuiltinContext) async -> Result<any BuiltinTransform, BuiltinParamErrors> {
        guard let o = params.objectValue else {
            return .failure(BuiltinParamErrors("", "\(mode.rawValue) takes {\"connection\", \"prompt\", \"into\", \"text\", \"maxTokens\"}"))
        }
        let keys = ["connection", "prompt", "into", "text", "maxTokens"]
        var errors: [(String, String)] = o.keys.filter { !keys.contains($0) }.map { ("/\($0)", "unknown key; \(mode.rawValue) takes \(keys.joined(separator: ", "))") }
        let text = TextSource.parse(o, errors: &errors)
        var prompt = mode == .summarize ? defaultSummaryPrompt : ""
        if let p = o["prompt"] {
            if let s = p.stringValue, !s.isEmpty { prompt = s } else { errors.append(("/prompt", "prompt is a non-empty template")) }
        } else if mode == .extract {
            errors.append(("/prompt", "extract needs a prompt that says what to extract, with {{text}} where the text goes"))
        }
        if !prompt.isEmpty, !prompt.contains("{{") {
            errors.append(("/prompt", "the prompt uses no {{text}} or {{/pointer}}: the model would never see the item"))
        }
        var into = JSONPointer(mode == .summarize ? "/summary" : "/extracted")!
        if let v = o["into"] {
            if let s = v.stringValue, let p = JSONPointer(s), !s.isEmpty { into = p } else { errors.append(("/into", "into is a JSON pointer such as \"/summary\"")) }
        }
        var maxTokens: Int?
        if let v = o["maxTokens"] {
            if let n = v.doubleValue, n == n.rounded(), (1...100_000).contains(n) { maxTokens = Int(n) }
            else { errors.append(("/maxTokens", "maxTokens is a whole number from 1 to 100000")) }
        }
        let connection = await ModelConnection.resolve(o, kind: .completion, context: context, errors: &errors)
        guard errors.isEmpty, let connection else { return .failure(BuiltinParamErrors(errors)) }
        return .success(CompletionTransform(mode: mode, model: ModelConnection(host: context.host, connection: connection, kind: .completion),
                                            text: text, prompt: prompt, into: into, maxTokens: maxTokens))
    }

    func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>] {
        var results: [Result<[ProviderItem], NvisyError>] = []
        for item in items {
            do {
                results.append(.success([try await complete(item)]))
            } catch {
                results.append(.failure(PipelineRun.nvisy(error)))
            }
        }
        return results
    }

    func complete(_ item: ProviderItem) async throws -> ProviderItem {
        var meta = try item.jsonMetadata()
        if case .object = meta {} else { meta = ["value": meta] }
        let rendered = try render(item, meta)
        var request: [String: JSONValue] = ["messages": [["role": "user", "content": .string(rendered)]]]
        if let maxTokens { request["maxTokens"] = .number(Double(maxTokens)) }
        let answer = try await model.completion().complete(.object(request), onToken: { _ in })
        let content = (answer["content"]?.stringValue ?? answer.stringValue ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        var value = JSONValue.string(content)
        if mode == .extract, let data = content.data(using: .utf8), let parsed = try? JSONDecoder().decode(JSONValue.self, from: data) {
            value = parsed
        }
        _ = into.set(value, in: &meta)
        return item.with(metadata: meta)
    }

    /// The prompt with `{{text}}` and `{{/pointer}}` filled in.
    func render(_ item: ProviderItem, _ meta: JSONValue) throws -> String {
        var out = ""
        var rest = Substring(prompt)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else { out += rest[open.lowerBound...]; rest = ""; break }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if name == "text" {
                out += try text.text(of: item)
            } else if let p = JSONPointer(name), let v = p.get(meta) {
                out += v.stringValue ?? v.jsonText
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    func close() async { await model.close() }
}
