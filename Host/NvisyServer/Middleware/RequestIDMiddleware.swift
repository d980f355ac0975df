import Hummingbird
import HTTPTypes
import NvisyCore
import Foundation

/// Gives every request an id: the caller's `x-request-id` when it is sane, else a new UUID.
/// The id is echoed in the response and attached to every log line of the request.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = NvisyRequestContext
    public static let header = HTTPField.Name("x-request-id")!

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[Self.header].flatMap { Self.isAcceptable($0) ? $0 : nil } ?? UUID.v7().uuidString.lowercased()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        do {
            var response = try await next(request, context)
            response.headers[Self.header] = id
            return response
        } catch var error as HTTPError {
            error.headers[Self.header] = id
            throw error
        }
    }

    /// Up to 128 visible ASCII characters: anything else could forge log lines.
    static func isAcceptable(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 128 && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
