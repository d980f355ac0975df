import AsyncHTTPClient
import Foundation
import Logging
import NvisyCore

/// A target URL a webhook may have: absolute http or https with a host, no credentials in it.
public enum WebhookURL {
    /// The parsed URL, or an `invalidInput` error that says what is wrong.
    public static func validate(_ text: String) throws(NvisyError) -> URL {
        guard text.count <= 2048, let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw NvisyError.invalidInput("the webhook URL is not a valid absolute URL", pointer: "/url")
        }
        guard scheme == "http" || scheme == "https" else {
            throw NvisyError.invalidInput("the webhook URL must use http or https, not \(scheme)", pointer: "/url")
        }
        guard let host = url.host, !host.isEmpty else {
            throw NvisyError.invalidInput("the webhook URL has no host", pointer: "/url")
        }
        guard url.user == nil, url.password == nil else {
            throw NvisyError.invalidInput("put credentials in a custom header, not in the webhook URL", pointer: "/url")
        }
        return url
    }
}

/// What one HTTP attempt returned.
public struct DeliveryResult: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// 2xx.
        case success
        /// Timeouts, connection errors, 408, 429, 5xx.
        case retryable
        /// Other 4xx, 3xx (redirects are not followed), refused targets.
        case permanent
    }

    public var verdict: Verdict
    public var statusCode: Int?
    public var latencyMs: Int
    public var error: String?
    /// From a 429/503 answer's `Retry-After`.
    public var retryAfter: Duration?
    /// The first bytes of the response body.
    public var responseBody: String?
}

/// Sends signed webhook requests with AsyncHTTPClient: a timeout for the whole request,
/// redirects not followed, at most `maxResponseBytes` of the answer read, and (unless private
/// addresses are allowed) the target resolved, checked and pinned before connecting.
public final class WebhookSender: Sendable {
    let settings: WebhookSettings
    let client: HTTPClient
    let logger: Logger

    public init(settings: WebhookSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.configuration(settings, dnsOverride: [:]))
    }

    static func configuration(_ settings: WebhookSettings, dnsOverride: [String: String]) -> HTTPClient.Configuration {
        var config = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                              timeout: .init(connect: .milliseconds(max(1, settings.timeoutMilliseconds))))
        config.dnsOverride = dnsOverride
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(30))
        return config
    }

    /// Closes the shared client.
    public func shutdown() async {
        try? await client.shutdown()
    }

    /// Posts `body` to `url` with `headers` and classifies the outcome. Never throws: every
    /// failure is a result.
    public func send(url text: String, headers: [(String, String)], body: [UInt8]) async -> DeliveryResult {
        let started = ContinuousClock.now
        func elapsed() -> Int {
            let d = ContinuousClock.now - started
            return Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
        }
        let url: URL
        do { url = try WebhookURL.validate(text) } catch {
            return DeliveryResult(verdict: .permanent, latencyMs: 0, error: error.message)
        }
        var client = self.client
        var temporary: HTTPClient?
        if !settings.allowPrivateAddresses {
            let host = url.host!.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            let port = url.port ?? (url.scheme?.lowercased() == "https" ? 443 : 80)
            let addresses: [String]
            do { addresses = try await AddressGuard.resolve(host: host, port: port) } catch {
                return DeliveryResult(verdict: .retryable, latencyMs: elapsed(), error: error.message)
            }
            if let refused = addresses.first(where: AddressGuard.isInternal) {
                return DeliveryResult(verdict: .permanent, latencyMs: elapsed(),
                                      error: "refused: \(host) resolves to \(refused), an internal address (webhook_allow_private is off)")
            }
            // Pin the checked address (the TLS name stays the host's).
            if host != addresses[0] {
                temporary = HTTPClient(eventLoopGroupProvider: .singleton,
                                       configuration: Self.configuration(settings, dnsOverride: [host: addresses[0]]))
                client = temporary!
            }
        }
        defer { if let temporary { Task { try? await temporary.shutdown() } } }

        var request = HTTPClientRequest(url: text)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(body)
        do {
            let response = try await client.execute(request, timeout: .milliseconds(max(1, settings.timeoutMilliseconds)), logger: logger)
            var kept: [UInt8] = []
            for try await chunk in response.body {
                kept.append(contentsOf: chunk.readableBytesView.prefix(settings.maxResponseBytes - kept.count))
                if kept.count >= settings.maxResponseBytes { break }
            }
            let code = Int(response.status.code)
            let bodyText = kept.isEmpty ? nil : String(decoding: kept, as: UTF8.self)
            let latency = elapsed()
            switch code {
            case 200..<300:
                return DeliveryResult(verdict: .success, statusCode: code, latencyMs: latency, responseBody: bodyText)
            case 408, 429, 500..<600:
                let retryAfter = response.headers.first(name: "retry-after").flatMap(Self.parseRetryAfter)
                return DeliveryResult(verdict: .retryable, statusCode: code, latencyMs: latency, error: "HTTP \(code)",
                                      retryAfter: retryAfter, responseBody: bodyText)
            case 300..<400:
                return DeliveryResult(verdict: .permanent, statusCode: code, latencyMs: latency,
                                      error: "HTTP \(code): redirects are not followed; point the webhook at the final URL", responseBody: bodyText)
            default:
                return DeliveryResult(verdict: .permanent, statusCode: code, latencyMs: latency, error: "HTTP \(code)", responseBody: bodyText)
            }
        } catch {
            return DeliveryResult(verdict: .retryable, latencyMs: elapsed(), error: Self.describe(error))
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            if e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout { return "timed out" }
            return "request failed: \(e)"
        }
        return "request failed: \(error)"
    }

    /// `Retry-After`: delay seconds or an HTTP date.
    static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .seconds(max(0, Int(date.timeIntervalSinceNow.rounded(.up))))
    }
}
