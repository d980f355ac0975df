import Hummingbird
import NvisyCore

/// Security headers on every answer, errors included: HSTS, nosniff, no framing, no referrer,
/// and a CSP that lets an API answer load nothing (the docs page may load its own files).
public struct SecurityHeadersMiddleware: RouterMiddleware {
    public typealias Context = NvisyRequestContext
    let hsts: Bool

    public init(hsts: Bool = true) {
        self.hsts = hsts
    }

    static let apiPolicy = "default-src 'none'; frame-ancestors 'none'"
    static let docsPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let policy = request.uri.path.hasPrefix("/api/docs") ? Self.docsPolicy : Self.apiPolicy
        do {
            var response = try await next(request, context)
            apply(&response.headers, policy: policy)
            return response
        } catch var error as HTTPError {
            apply(&error.headers, policy: policy)
            throw error
        }
    }

    func apply(_ headers: inout HTTPFields, policy: String) {
        if hsts { headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains" }
        headers[.xContentTypeOptions] = "nosniff"
        headers[.init("X-Frame-Options")!] = "DENY"
        headers[.init("Referrer-Policy")!] = "no-referrer"
        if headers[.contentSecurityPolicy] == nil { headers[.contentSecurityPolicy] = policy }
    }
}
