import Foundation
import NvisyPluginKit

/// When to try a request again, how long to wait, and what a failure means for the host.
struct RetryPolicy: Sendable {
    /// Attempts after the first one, for 429, 5xx and network failures.
    var maxRetries: Int
    /// The longest wait between attempts, whatever `Retry-After` asks for.
    var maxDelay: Double

    /// Statuses worth repeating: rate limits and server-side trouble.
    static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 409 || status == 429 || (500...599).contains(status)
    }

    /// The wait before retry number `attempt` (0-based): the server's `Retry-After` when it
    /// sent one (seconds or an HTTP date), else exponential backoff from half a second.
    func delay(attempt: Int, retryAfter: String?) -> Double {
        if let retryAfter, let asked = Self.parseRetryAfter(retryAfter) {
            return min(max(asked, 0), maxDelay)
        }
        return min(0.5 * pow(2, Double(attempt)), maxDelay)
    }

    /// `Retry-After: 3` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110 §10.2.3).
    /// OpenAI-compatible servers also send `retry-after-ms`, handled by the caller.
    static func parseRetryAfter(_ value: String, now: Date = Date()) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return date.timeIntervalSince(now)
    }

    /// The ABI error for a final HTTP status, with the server's own message when it gave one.
    /// The message never contains request headers (the API key lives there).
    static func error(status: Int, body: Data, url: URL) -> PluginError {
        let detail = serverMessage(body).map { ": \($0)" } ?? ""
        let what = "\(url.absoluteString) answered HTTP \(status)\(detail)"
        switch status {
        case 401, 403:
            return .unauthorized("\(what) (check the connection's apiKey credential)")
        case 400, 404, 422:
            return .invalidConfig("\(what) (check baseURL, model and the request)")
        case _ where isRetryable(status: status):
            return .transient(what)
        default:
            return .permanent(what)
        }
    }

    /// `{"error":{"message":…}}` (OpenAI) or `{"detail":…}`, else the first 200 bytes of text.
    static func serverMessage(_ body: Data) -> String? {
        guard !body.isEmpty else { return nil }
        if let json = try? JSON.parse(body) {
            if let m = json["error"]?["message"]?.stringValue { return m }
            if let m = json["error"]?.stringValue { return m }
            if let m = json["detail"]?.stringValue { return m }
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// The ABI error for a transport failure (no HTTP status).
    static func error(transport error: Error, url: URL) -> PluginError {
        if let urlError = error as? URLError {
            switch urlError.code {
            case .badURL, .unsupportedURL:
                return .invalidConfig("\(url.absoluteString) is not a usable URL: \(urlError.localizedDescription)")
            case .cancelled:
                return .cancelled
            default:
                return .transient("\(url.absoluteString) unreachable: \(urlError.localizedDescription) (URLError \(urlError.code.rawValue))")
            }
        }
        return .transient("\(url.absoluteString) failed: \(error.localizedDescription)")
    }
}
