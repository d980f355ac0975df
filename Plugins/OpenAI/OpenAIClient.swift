import Foundation
import NvisyPluginKit
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What both providers share: where the server is, which model, and how patient to be.
struct OpenAISettings: Decodable, Sendable {
    /// The API root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    var baseURL: String
    /// The model name sent with every request.
    var model: String
    /// Seconds without any byte from the server before a request fails (transient).
    var timeoutSeconds: Double?
    /// Retries after the first attempt for 429, 5xx and network failures.
    var maxRetries: Int?
    /// The longest wait between retries, whatever `Retry-After` asks for.
    var maxRetryDelaySeconds: Double?
    /// Sent as `OpenAI-Organization` when set.
    var organization: String?
}

/// The credentials object: the API key, sent as `Authorization: Bearer …` and nowhere else.
struct OpenAICredentials: Decodable, Sendable {
    var apiKey: String?

    static let schema = #"""
    {"type":"object","additionalProperties":false,
     "properties":{"apiKey":{"type":"string","minLength":1,"description":"Sent as a Bearer token; never logged. Optional for local servers that need none."}}}
    """#
}

/// A small blocking HTTP client for OpenAI-compatible APIs on URLSession (FoundationNetworking,
/// part of the toolchain, so the plugin carries no second copy of swift-nio).
///
/// Requests stream: response bytes reach `onChunk` as the network delivers them.
final class OpenAIClient {
    let baseURL: URL
    let model: String
    private let apiKey: String?
    private let organization: String?
    private let policy: RetryPolicy
    private let session: URLSession
    private let delegate = SessionDelegate()

    /// The JSON Schema properties both providers' configs share.
    static let settingsProperties = #"""
    "baseURL":{"type":"string","minLength":1,"description":"API root, e.g. https://api.openai.com/v1"},
    "model":{"type":"string","minLength":1},
    "timeoutSeconds":{"type":"number","exclusiveMinimum":0,"default":60},
    "maxRetries":{"type":"integer","minimum":0,"maximum":10,"default":2},
    "maxRetryDelaySeconds":{"type":"number","minimum":0,"default":30},
    "organization":{"type":"string"}
    """#

    init(settings: OpenAISettings, credentials: OpenAICredentials) throws {
        var root = settings.baseURL.trimmingCharacters(in: .whitespaces)
        while root.hasSuffix("/") { root.removeLast() }
        guard let url = URL(string: root), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host != nil else {
            throw PluginError.invalidConfig("baseURL \"\(settings.baseURL)\" is not an http(s) URL")
        }
        let timeout = settings.timeoutSeconds ?? 60
        guard timeout > 0 else { throw PluginError.invalidConfig("timeoutSeconds must be positive") }
        baseURL = url
        model = settings.model
        apiKey = credentials.apiKey
        organization = settings.organization
        policy = RetryPolicy(maxRetries: max(0, settings.maxRetries ?? 2), maxDelay: max(0, settings.maxRetryDelaySeconds ?? 30))
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = max(timeout * 10, 600)
        configuration.urlCache = nil
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
    }

    deinit { session.invalidateAndCancel() }

    /// Sends `body` (GET when nil, else a JSON POST) to `path` (relative to the base URL) and
    /// streams the 200 answer's bytes to `onChunk`. Retries 429/5xx/network failures until the first byte of a 200 answer has
    /// been delivered (after that a retry would repeat tokens), honouring `Retry-After`.
    func send(_ path: String, json body: Data?, context: CallContext, onChunk: (Data) throws -> Void) throws {
        let url = baseURL.appendingPathComponent(path)
        var request = URLRequest(url: url)
        request.httpMethod = body == nil ? "GET" : "POST"
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        if let organization { request.setValue(organization, forHTTPHeaderField: "OpenAI-Organization") }

        var attempt = 0
        while true {
            try context.checkCancelled()
            switch try attemptOnce(request, url: url, context: context, onChunk: onChunk) {
            case .done:
                return
            case .retry(let error, let retryAfter):
                guard attempt < policy.maxRetries else { throw error }
                let wait = policy.delay(attempt: attempt, retryAfter: retryAfter)
                context.log("\(url.absoluteString): \(error.message); retry \(attempt + 1)/\(policy.maxRetries) in \(String(format: "%.1f", wait)) s", level: .warning)
                try sleep(wait, context: context)
                attempt += 1
            }
        }
    }

    /// Sends and collects the whole answer (for non-streaming endpoints).
    func fetch(_ path: String, json body: Data?, context: CallContext) throws -> Data {
        var all = Data()
        try send(path, json: body, context: context) { all.append($0) }
        return all
    }

    private enum Outcome {
        case done
        case retry(PluginError, retryAfter: String?)
    }

    private func attemptOnce(_ request: URLRequest, url: URL, context: CallContext,
                             onChunk: (Data) throws -> Void) throws -> Outcome {
        let exchange = Exchange()
        let task = session.dataTask(with: request)
        delegate.register(task, exchange)
        defer { delegate.remove(task) }
        task.resume()
        var errorBody = Data()
        var delivered = false
        while true {
            let s = exchange.take(waiting: 0.05)
            if let status = s.status {
                for chunk in s.chunks {
                    if status == 200 {
                        delivered = true
                        do { try onChunk(chunk) } catch { task.cancel(); throw error }
                    } else if errorBody.count < 64 * 1024 {
                        errorBody.append(chunk)
                    }
                }
            }
            if s.finished {
                if let failure = s.failure {
                    let error = RetryPolicy.error(transport: failure, url: url)
                    // Tokens already handed out cannot be taken back: no retry mid-stream.
                    if delivered || error.kind != .transient || context.isCancelled { throw error }
                    return .retry(error, retryAfter: nil)
                }
                guard let status = s.status else { throw PluginError.transient("\(url.absoluteString) closed without an answer") }
                if status == 200 { return .done }
                let error = RetryPolicy.error(status: status, body: errorBody, url: url)
                guard RetryPolicy.isRetryable(status: status) else { throw error }
                let retryAfter = s.headers["retry-after"]
                    ?? s.headers["retry-after-ms"].flatMap { Double($0) }.map { String($0 / 1000) }
                return .retry(error, retryAfter: retryAfter)
            }
            if context.isCancelled {
                task.cancel()
                throw PluginError.cancelled
            }
        }
    }

    /// Waits `seconds`, waking every 50 ms to honour the host's cancellation.
    private func sleep(_ seconds: Double, context: CallContext) throws {
        let end = Date(timeIntervalSinceNow: seconds)
        while Date() < end {
            try context.checkCancelled()
            Thread.sleep(forTimeInterval: min(0.05, max(0, end.timeIntervalSinceNow)))
        }
    }
}
