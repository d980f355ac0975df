import Foundation
import Hummingbird
import NvisyCore

/// Turns every error that leaves a route into an RFC 9457 `application/problem+json` response.
///
/// ``NvisyError`` maps through its kind; Hummingbird's own errors (unknown route, body too
/// large) keep their status; anything else is an internal error whose details are logged
/// with the request id and never sent to the caller.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = NvisyRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as NvisyError {
            if error.kind == .internal {
                context.logger.error("internal error", metadata: ["error": .string(error.message)])
            }
            return Self.response(ProblemDetails(error, instance: request.uri.path), requestID: context.requestID)
        } catch let error as HTTPError {
            if error.status == .notFound, error.body == nil, let allowed = SpecRouteMethods.allowed(for: request.uri.path),
               !allowed.contains(request.method.rawValue) {
                // The path exists with other methods: 405 and what is allowed, not "no such route".
                var response = Self.response(ProblemDetails(
                    type: "https://nvisy.dev/problems/method-not-allowed", title: "Method not allowed", status: 405,
                    detail: "\(request.method.rawValue) is not allowed on \(request.uri.path); use \(allowed.joined(separator: ", "))",
                    instance: request.uri.path), requestID: context.requestID)
                response.headers[.allow] = allowed.joined(separator: ", ")
                return response
            }
            let status = Int(error.status.code)
            let kind = NvisyError.Kind.allCases.first { $0.httpStatus == status }
            let problem = ProblemDetails(
                type: "https://nvisy.dev/problems/\(kind?.rawValue ?? "http-\(status)")",
                title: kind?.title ?? error.status.reasonPhrase,
                status: status,
                detail: error.body ?? (status == 404 ? "no route for \(request.method.rawValue) \(request.uri.path)" : error.status.reasonPhrase),
                instance: request.uri.path)
            var response = Self.response(problem, requestID: context.requestID)
            for field in error.headers where field.name != .contentType { response.headers.append(field) }
            return response
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": .string(String(reflecting: error))])
            return Self.response(ProblemDetails(NvisyError.internal("an internal error occurred; quote request id \(context.requestID) when reporting it"),
                                                instance: request.uri.path), requestID: context.requestID)
        }
    }

    /// A problem+json response.
    public static func response(_ problem: ProblemDetails, requestID: String) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(problem)) ?? Data(#"{"title":"Internal error","status":500}"#.utf8)
        var headers: HTTPFields = [.contentType: ProblemDetails.mediaType]
        if !requestID.isEmpty { headers[RequestIDMiddleware.header] = requestID }
        return Response(status: .init(code: problem.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
