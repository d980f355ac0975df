import Foundation
import NvisyCore

/// Collects invalid fields of one request body, then throws them all at once as a 400
/// problem whose `errors` name each field by JSON pointer.
struct Validation {
    private(set) var errors: [NvisyError.FieldError] = []

    mutating func fail(_ pointer: String, _ message: String) {
        errors.append(.init(pointer: pointer, message: message))
    }

    /// Trims white space and checks the length in characters.
    mutating func text(_ value: String?, at pointer: String, min: Int = 1, max: Int) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        // PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
        if trimmed.contains("\u{0}") { fail(pointer, "must not contain NUL characters"); return trimmed }
        if trimmed.count < min { fail(pointer, min == 1 ? "must not be empty" : "must be at least \(min) characters") }
        else if trimmed.count > max { fail(pointer, "must be at most \(max) characters") }
        return trimmed
    }

    /// An email address: one `@`, a dotted domain, no spaces, at most 254 characters.
    mutating func email(_ value: String?, at pointer: String) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        let valid = trimmed.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".") && !trimmed.contains(where: { $0.isWhitespace || $0.isNewline })
        if !valid { fail(pointer, "must be an email address like name@example.com") }
        return trimmed
    }

    /// JSON destined for a jsonb column: PostgreSQL refuses `\u0000` in it.
    mutating func storableJSON(_ json: String, at pointer: String) {
        if json.contains("\\u0000") { fail(pointer, "must not contain NUL characters (\\u0000)") }
    }

    /// Throws the collected errors, if any.
    func check() throws(NvisyError) {
        guard errors.isEmpty else {
            let summary = errors.count == 1 ? "\(errors[0].pointer) \(errors[0].message)" : "\(errors.count) fields are invalid"
            throw NvisyError.invalidInput("invalid request: \(summary)", fields: errors)
        }
    }
}

/// A path id: a UUID, else 400 naming the parameter.
func pathID(_ text: String, _ name: String) throws(NvisyError) -> UUID {
    guard let id = UUID(uuidString: text) else { throw NvisyError.invalidInput("\(name) must be a UUID", pointer: "/\(name)") }
    return id
}
