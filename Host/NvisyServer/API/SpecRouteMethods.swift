import Foundation
import HTTPTypes

/// The methods openapi.yaml declares for each path, so that a request with another method on a
/// path the API has is answered 405 with an `Allow` header (RFC 9110 §15.5.6), not a 404 that
/// says the path does not exist. Used only after the router found no route: no cost on a hit.
enum SpecRouteMethods {
    /// Path templates split into segments (`{…}` matches any one segment) and their methods.
    static let routes: [(segments: [Substring], methods: [String])] = {
        guard let bytes = try? OpenAPIDocsController.specJSON.get(),
              let spec = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let paths = spec["paths"] as? [String: [String: Any]]
        else { return [] }
        let verbs = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        return paths.map { path, item in
            (path.split(separator: "/"), verbs.filter { item[$0] != nil }.map { $0.uppercased() })
        }
    }()

    /// The declared methods for `path` (HEAD with GET, as the router answers it), or nil when no
    /// spec path matches.
    static func allowed(for path: String) -> [String]? {
        let parts = path.split(separator: "/")
        var methods: Set<String> = []
        // Only the most specific templates count: `/invites/accept` is that path, not `/invites/{inviteId}`.
        var best = -1
        for route in routes where route.segments.count == parts.count {
            let matches = zip(route.segments, parts).allSatisfy { template, part in
                template.first == "{" || template == part
            }
            guard matches else { continue }
            let literals = route.segments.filter { $0.first != "{" }.count
            if literals > best {
                best = literals
                methods = Set(route.methods)
            } else if literals == best {
                methods.formUnion(route.methods)
            }
        }
        guard !methods.isEmpty else { return nil }
        if methods.contains("GET") { methods.insert("HEAD") }
        return methods.sorted()
    }
}
