import Hummingbird

/// CORS for the configured origins only: preflights from them are answered 204 with the
/// allowed methods and headers; other origins get no CORS headers (the browser then blocks).
public struct OriginPolicyMiddleware: RouterMiddleware {
    public typealias Context = NvisyRequestContext
    let origins: Set<String>

    public init(origins: [String]) {
        self.origins = Set(origins)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) || origins.contains("*") else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = HTTPFields()
            allow(&headers, origin: origin)
            headers[.accessControlAllowMethods] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type, X-Request-ID, Idempotency-Key"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        do {
            var response = try await next(request, context)
            allow(&response.headers, origin: origin)
            response.headers[.accessControlExposeHeaders] = "Retry-After, X-Request-ID, Location"
            return response
        } catch var error as HTTPError {
            allow(&error.headers, origin: origin)
            throw error
        }
    }

    private func allow(_ headers: inout HTTPFields, origin: String) {
        headers[.accessControlAllowOrigin] = origins.contains("*") ? "*" : origin
        headers[.vary] = "Origin"
    }
}
