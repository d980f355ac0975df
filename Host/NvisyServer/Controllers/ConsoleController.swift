import Hummingbird
import NvisyCore

/// `GET /console` — the built-in web console: three static files compiled into the binary
/// (`Console/`, plain HTML/CSS/JS, no CDN, no build step). It is a client of the public API with
/// the user's own bearer token and adds no endpoint of its own. Its CSP allows only its own
/// files and same-origin requests: no inline script or style, no framing.
public struct ConsoleController: Sendable {
    /// The console's policy; SecurityHeadersMiddleware keeps a CSP a route has set.
    static let policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static let files: [String: (bytes: [UInt8], type: String)] = [
        "index.html": (PackageResources.index_html, "text/html; charset=utf-8"),
        "console.js": (PackageResources.console_js, "text/javascript; charset=utf-8"),
        "console.css": (PackageResources.console_css, "text/css; charset=utf-8"),
    ]

    public init() {}

    public func addRoutes(to router: Router<NvisyRequestContext>) {
        router.get("/console") { _, _ in Self.response("index.html") }
        router.get("/console/:file") { _, context in
            Self.response(context.parameters.get("file") ?? "")
        }
    }

    static func response(_ name: String) -> Response {
        guard let file = files[name] else {
            return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8", .contentSecurityPolicy: policy],
                            body: .init(byteBuffer: ByteBuffer(string: "no such console file\n")))
        }
        return Response(status: .ok, headers: [.contentType: file.type, .contentSecurityPolicy: policy, .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }
}
