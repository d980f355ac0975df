import Foundation
import Hummingbird
import NvisyCore
import OpenAPIRuntime

/// Unwraps the errors of generated OpenAPI handlers: what a handler threw goes on unchanged to
/// ``ProblemMiddleware``; a request that does not match the spec (missing field, wrong type,
/// unknown enum value, bad content type) becomes a 400 problem naming the field.
struct OpenAPIErrorMiddleware: RouterMiddleware {
    typealias Context = NvisyRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ServerError {
            throw Self.map(error)
        }
    }

    static func map(_ error: ServerError) -> any Error {
        let inner = error.underlyingError
        if inner is NvisyError || inner is HTTPError { return inner }
        if let decoding = inner as? DecodingError { return invalid(decoding) }
        if let decoding = (inner as? any Error).flatMap({ Mirror(reflecting: $0).descendant(0) as? DecodingError }) {
            return invalid(decoding)
        }
        if (400..<500).contains(error.httpStatus.code) {
            return NvisyError.invalidInput("the request does not match the API: \(error.causeDescription) \(String(describing: inner))")
        }
        return inner
    }

    static func invalid(_ error: DecodingError) -> NvisyError {
        func pointer(_ path: [any CodingKey]) -> String {
            "/" + path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .invalidInput("a required field is missing", pointer: pointer(context.codingPath + [key]))
                .withMessage(pointer(context.codingPath + [key]), "is required")
        case .typeMismatch(let type, let context):
            return .invalidInput("a field has the wrong type", pointer: pointer(context.codingPath))
                .withMessage(pointer(context.codingPath), "must be a \(Self.jsonName(type))")
        case .valueNotFound(let type, let context):
            return .invalidInput("a field is null", pointer: pointer(context.codingPath))
                .withMessage(pointer(context.codingPath), "must be a \(Self.jsonName(type)), not null")
        case .dataCorrupted(let context):
            let where_ = context.codingPath.isEmpty ? "" : pointer(context.codingPath)
            return where_.isEmpty
                ? .invalidInput("the body is not valid JSON")
                : NvisyError.invalidInput("a field has an invalid value", pointer: where_).withMessage(where_, "is invalid: \(context.debugDescription)")
        @unknown default:
            return .invalidInput("the body does not match the API")
        }
    }

    static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "string"
        case is Int.Type, is Int64.Type, is Int32.Type: "integer"
        case is Double.Type, is Float.Type: "number"
        case is Bool.Type: "boolean"
        case is Date.Type: "RFC 3339 date-time"
        default: "\(type)".contains("Array") ? "array" : "value of type \(type)"
        }
    }
}

extension NvisyError {
    /// The same error with its only field's message replaced and the summary naming it.
    func withMessage(_ pointer: String, _ message: String) -> NvisyError {
        NvisyError.invalidInput("invalid request: \(pointer) \(message)", fields: [.init(pointer: pointer, message: message)])
    }
}
