import Foundation
import Hummingbird
import NvisyCore
import Yams

/// `GET /api/openapi.json` (openapi.yaml, the API's source of truth, as JSON) and `GET /api/docs`
/// (Swagger UI from the venv's `swagger_ui_bundle` package: offline, no CDN).
public struct OpenAPIDocsController: Sendable {
    /// The spec as JSON bytes, converted once.
    public static let specJSON: Result<[UInt8], NvisyError> = {
        do {
            let text = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
            guard let object = try Yams.load(yaml: text) else { return .failure(.internal("openapi.yaml is empty")) }
            return .success(Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])))
        } catch {
            return .failure(.internal("openapi.yaml cannot be converted to JSON: \(error)"))
        }
    }()

    let swaggerDirectory: URL?

    public init(venv: URL?) {
        swaggerDirectory = venv.flatMap(Self.findSwaggerUI)
    }

    static let files: [String: String] = [
        "swagger-ui.css": "text/css; charset=utf-8", "index.css": "text/css; charset=utf-8",
        "swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
        "favicon-16x16.png": "image/png", "favicon-32x32.png": "image/png",
    ]

    public func addRoutes(to router: Router<NvisyRequestContext>) {
        router.get("/api/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(bytes: try Self.specJSON.get())))
        }
        router.get("/api/docs") { _, _ in
            _ = try directory()
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: Self.page)))
        }
        router.get("/api/docs/swagger-initializer.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: Self.initializer)))
        }
        router.get("/api/docs/:file") { _, context in
            let name = try context.parameters.require("file")
            guard let type = Self.files[name] else { throw NvisyError.notFound("no docs file \(name)") }
            let data = try Data(contentsOf: try directory().appendingPathComponent(name))
            return Response(status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=86400"],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    private func directory() throws(NvisyError) -> URL {
        guard let swaggerDirectory else {
            throw NvisyError.unavailable("Swagger UI is not installed: pip install swagger-ui-bundle-v2 into the venv (scripts/install-deps.sh does); the spec itself is at /api/openapi.json")
        }
        return swaggerDirectory
    }

    /// `<venv>/lib/python3.*/site-packages/swagger_ui_bundle/vendor/swagger-ui-*`.
    static func findSwaggerUI(in venv: URL) -> URL? {
        let fm = FileManager.default
        let lib = venv.appendingPathComponent("lib")
        for python in (try? fm.contentsOfDirectory(atPath: lib.path))?.sorted() ?? [] where python.hasPrefix("python") {
            let vendor = lib.appendingPathComponent(python).appendingPathComponent("site-packages/swagger_ui_bundle/vendor")
            for dir in (try? fm.contentsOfDirectory(atPath: vendor.path))?.sorted().reversed() ?? [] where dir.hasPrefix("swagger-ui") {
                let url = vendor.appendingPathComponent(dir)
                if fm.fileExists(atPath: url.appendingPathComponent("swagger-ui-bundle.js").path) { return url }
            }
        }
        return nil
    }

    static let page = """
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <title>nvisy API</title>
          <link rel="stylesheet" href="/api/docs/swagger-ui.css">
          <link rel="stylesheet" href="/api/docs/index.css">
          <link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png" sizes="32x32">
        </head>
        <body>
          <div id="swagger-ui"></div>
          <script src="/api/docs/swagger-ui-bundle.js"></script>
          <script src="/api/docs/swagger-ui-standalone-preset.js"></script>
          <script src="/api/docs/swagger-initializer.js"></script>
        </body>
        </html>
        """

    static let initializer = """
        window.onload = function () {
          window.ui = SwaggerUIBundle({
            url: "/api/openapi.json",
            dom_id: "#swagger-ui",
            deepLinking: true,
            presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
            plugins: [SwaggerUIBundle.plugins.DownloadUrl],
            layout: "StandaloneLayout"
          });
        };
        """
}
