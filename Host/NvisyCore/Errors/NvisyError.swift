/// The one error type nvisy's modules throw across their boundaries.
///
/// Each error has a ``Kind`` (what went wrong, which decides the HTTP status once,
/// in NvisyServer) and a ``RetryClass`` (whether trying again can help, which the
/// runtime and the webhook deliverer use). The message is safe to show a caller:
/// never put a secret into it.
public struct NvisyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, independent of transport.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case invalidInput = "invalid-input"
        /// Well-formed, but refers to something that cannot serve here (e.g. a connection of
        /// another kind): 422, naming the field.
        case unprocessable
        case notFound = "not-found"
        case conflict
        case unauthorized
        case forbidden
        case rateLimited = "rate-limited"
        case unavailable
        case `internal`
    }

    /// One invalid field of a request, named by a JSON pointer (RFC 6901).
    public struct FieldError: Sendable, Equatable, Codable {
        /// JSON pointer to the field, e.g. `/nodes/2/connection`.
        public var pointer: String
        /// What is wrong with it and, where possible, what would be right.
        public var message: String

        public init(pointer: String, message: String) {
            self.pointer = pointer
            self.message = message
        }
    }

    public var kind: Kind
    public var retry: RetryClass
    /// A sentence for a person: what is wrong and what to do.
    public var message: String
    /// The invalid fields, for ``Kind/invalidInput``.
    public var fieldErrors: [FieldError]

    public init(_ kind: Kind, _ message: String, retry: RetryClass? = nil, fieldErrors: [FieldError] = []) {
        self.kind = kind
        self.message = message
        self.retry = retry ?? kind.defaultRetryClass
        self.fieldErrors = fieldErrors
    }

    public var description: String { message }

    public static func invalidInput(_ message: String, pointer: String? = nil) -> NvisyError {
        NvisyError(.invalidInput, message, fieldErrors: pointer.map { [FieldError(pointer: $0, message: message)] } ?? [])
    }

    public static func invalidInput(_ message: String, fields: [FieldError]) -> NvisyError {
        NvisyError(.invalidInput, message, fieldErrors: fields)
    }

    public static func unprocessable(_ message: String, pointer: String) -> NvisyError {
        NvisyError(.unprocessable, message, fieldErrors: [.init(pointer: pointer, message: message)])
    }
    public static func notFound(_ message: String) -> NvisyError { NvisyError(.notFound, message) }
    public static func conflict(_ message: String) -> NvisyError { NvisyError(.conflict, message) }
    public static func unauthorized(_ message: String) -> NvisyError { NvisyError(.unauthorized, message) }
    public static func forbidden(_ message: String) -> NvisyError { NvisyError(.forbidden, message) }
    public static func rateLimited(_ message: String) -> NvisyError { NvisyError(.rateLimited, message) }
    public static func unavailable(_ message: String) -> NvisyError { NvisyError(.unavailable, message) }
    public static func `internal`(_ message: String) -> NvisyError { NvisyError(.internal, message) }
}

extension NvisyError.Kind {
    /// Unavailability and rate limits pass; everything else needs a change first.
    public var defaultRetryClass: RetryClass {
        switch self {
        case .unavailable, .rateLimited: .transient
        default: .permanent
        }
    }
}
