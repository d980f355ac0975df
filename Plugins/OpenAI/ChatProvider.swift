import Foundation
import NvisyPluginKit

/// `openai/chat`: chat completions from any OpenAI-compatible server, streamed token by token.
///
/// The request is `{"messages":[{"role","content"}…], "temperature"?, "maxTokens"?, "stop"?}`;
/// the answer `{"content","message":{"role","content"},"finishReason","model","usage"?}`. Tokens reach the host as the
/// server's SSE events arrive, not after the whole answer.
final class ChatProvider: CompletionProvider {
    struct Config: Decodable {
        var settings: OpenAISettings
        var temperature: Double?
        var maxTokens: Int?

        private enum Keys: String, CodingKey { case temperature, maxTokens }

        init(from decoder: Decoder) throws {
            settings = try OpenAISettings(from: decoder)
            let c = try decoder.container(keyedBy: Keys.self)
            temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
            maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        }
    }

    static let name = "chat"
    static let description = "Chat completions (streamed) from an OpenAI-compatible API: OpenAI, vLLM, Ollama, llama.cpp."
    static let dataType = DataType.message
    static let configSchema = #"{"type":"object","required":["baseURL","model"],"additionalProperties":false,"properties":{"#
        + OpenAIClient.settingsProperties
        + #","temperature":{"type":"number","minimum":0,"maximum":2},"maxTokens":{"type":"integer","minimum":1}}}"#
    static let credentialsSchema: String? = OpenAICredentials.schema

    private let config: Config
    private let client: OpenAIClient

    init(config: Config, credentials: OpenAICredentials) throws {
        self.config = config
        client = try OpenAIClient(settings: config.settings, credentials: credentials)
    }

    func check(_ context: CallContext) throws {
        _ = try client.fetch("models", json: nil, context: context)
    }

    func complete(_ request: JSON, context: CallContext, onToken: (String) -> Void) throws -> JSON {
        let body = try Self.body(request, config: config, model: client.model)
        var parser = SSEParser()
        var content = ""
        var finishReason: JSON = .null
        var model: JSON = .string(client.model)
        var usage: JSON?
        var sawDone = false
        try client.send("chat/completions", json: body.serialized(), context: context) { chunk in
            for data in parser.feed(chunk) {
                if data == "[DONE]" { sawDone = true; continue }
                guard let event = try? JSON.parse(Data(data.utf8)) else {
                    throw PluginError.permanent("the server streamed an event that is not JSON: \(data.prefix(120))")
                }
                if let message = event["error"]?["message"]?.stringValue ?? event["error"]?.stringValue {
                    throw PluginError.transient("the server failed mid-stream: \(message)")
                }
                if let m = event["model"], m.stringValue != nil { model = m }
                if let u = event["usage"], u.objectValue != nil { usage = u }
                guard case .array(let choices)? = event["choices"], let choice = choices.first else { continue }
                if let token = choice["delta"]?["content"]?.stringValue, !token.isEmpty {
                    content += token
                    onToken(token)
                }
                if let reason = choice["finish_reason"], reason.stringValue != nil { finishReason = reason }
            }
        }
        parser.finish()
        if !sawDone && finishReason == .null {
            throw PluginError.transient("the stream from \(client.baseURL.absoluteString) ended before [DONE]")
        }
        var out: [String: JSON] = ["content": .string(content), "finishReason": finishReason, "model": model,
                                   "message": ["role": "assistant", "content": .string(content)]]
        if let usage {
            out["usage"] = [
                "promptTokens": usage["prompt_tokens"] ?? .null,
                "completionTokens": usage["completion_tokens"] ?? .null,
                "totalTokens": usage["total_tokens"] ?? .null,
            ]
        }
        return .object(out)
    }

    /// The `/chat/completions` body: the messages checked, the config's defaults under the
    /// request's own options, `stream: true` always.
    static func body(_ request: JSON, config: Config, model: String) throws -> JSON {
        guard case .array(let messages)? = request["messages"], !messages.isEmpty else {
            throw PluginError.invalidConfig("the request needs a non-empty \"messages\" array")
        }
        for (i, m) in messages.enumerated() {
            guard m["role"]?.stringValue != nil, m["content"]?.stringValue != nil else {
                throw PluginError.invalidConfig("messages[\(i)] needs string \"role\" and \"content\"")
            }
        }
        var body: [String: JSON] = ["model": .string(model), "messages": .array(messages), "stream": true]
        if let t = request["temperature"]?.doubleValue ?? config.temperature { body["temperature"] = .number(t) }
        if let n = request["maxTokens"]?.doubleValue ?? config.maxTokens.map(Double.init) { body["max_tokens"] = .number(n) }
        if let stop = request["stop"] { body["stop"] = stop }
        return .object(body)
    }
}
