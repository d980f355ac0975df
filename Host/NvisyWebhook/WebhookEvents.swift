import Foundation
import NvisyCore

/// Event types and the body that carries them.
public enum WebhookEvents {
    /// The events nvisy emits (a webhook may also subscribe to `*` or a prefix like `pipeline.run.*`).
    public static let known: [String] = [
        "pipeline.run.completed", "pipeline.run.failed", "pipeline.run.status_changed",
        "file.uploaded", "file.deleted", "member.joined", "connection.check_failed", "webhook.test",
    ]

    /// Whether a subscription `pattern` (`*`, `prefix.*`, or an exact type) covers `type`.
    public static func matches(_ pattern: String, _ type: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") { return type.hasPrefix(String(pattern.dropLast())) }
        return pattern == type
    }

    /// Whether `patterns` is a valid subscription list (non-empty, known types or wildcards).
    public static func validate(_ patterns: [String]) throws(NvisyError) {
        guard !patterns.isEmpty else {
            throw NvisyError.invalidInput("subscribe to at least one event type (or \"*\")", pointer: "/eventTypes")
        }
        for (index, pattern) in patterns.enumerated() {
            let ok = pattern == "*" || known.contains(pattern)
                || (pattern.hasSuffix(".*") && known.contains { $0.hasPrefix(String(pattern.dropLast())) })
            if !ok {
                throw NvisyError.invalidInput("unknown event type \(pattern); one of \(known.joined(separator: ", ")), a prefix like pipeline.run.*, or *",
                                              pointer: "/eventTypes/\(index)")
            }
        }
    }

    /// The JSON body `{"type":…,"timestamp":…,"data":…}`; `dataJSON` is inserted as it is.
    public static func body(type: String, timestamp: Date, dataJSON: String) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return #"{"type":"# + jsonString(type) + #","timestamp":""# + formatter.string(from: timestamp) + #"","data":"# + dataJSON + "}"
    }

    static func jsonString(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
