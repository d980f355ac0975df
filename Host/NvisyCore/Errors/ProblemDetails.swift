/// An RFC 9457 problem document (`application/problem+json`).
///
/// Built from an ``NvisyError`` in exactly one place, ``init(_:instance:)``, so every
/// transport maps kinds to statuses the same way.
public struct ProblemDetails: Codable, Sendable, Equatable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var instance: String?
    /// The invalid fields, present for validation errors.
    public var errors: [NvisyError.FieldError]?

    public init(type: String, title: String, status: Int, detail: String, instance: String? = nil,
                errors: [NvisyError.FieldError]? = nil) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.instance = instance
        self.errors = errors
    }

    /// The problem for an error: status and title come from its kind.
    public init(_ error: NvisyError, instance: String? = nil) {
        self.init(
            type: "https://nvisy.dev/problems/\(error.kind.rawValue)",
            title: error.kind.title,
            status: error.kind.httpStatus,
            detail: error.message,
            instance: instance,
            errors: error.fieldErrors.isEmpty ? nil : error.fieldErrors
        )
    }

    /// The media type of a problem document.
    public static let mediaType = "application/problem+json"
}

extension NvisyError.Kind {
    /// The HTTP status that carries this kind.
    public var httpStatus: Int {
        switch self {
        case .invalidInput: 400
        case .unprocessable: 422
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .conflict: 409
        case .rateLimited: 429
        case .internal: 500
        case .unavailable: 503
        }
    }

    /// A short, stable title for the problem document.
    public var title: String {
        switch self {
        case .invalidInput: "Invalid input"
        case .unprocessable: "Unprocessable content"
        case .notFound: "Not found"
        case .conflict: "Conflict"
        case .unauthorized: "Unauthorized"
        case .forbidden: "Forbidden"
        case .rateLimited: "Too many requests"
        case .unavailable: "Service unavailable"
        case .internal: "Internal error"
        }
    }
}
