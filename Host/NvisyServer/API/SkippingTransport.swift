import HTTPTypes
import OpenAPIRuntime

/// Registers the generated operations on `base`, except those served by hand-written
/// controllers (``FilesController/operations``, as "METHOD /path" in spec form).
struct SkippingTransport<Base: ServerTransport>: ServerTransport {
    var base: Base
    let skip: Set<String>

    func register(_ handler: @Sendable @escaping (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
                  method: HTTPRequest.Method, path: String) throws {
        if skip.contains("\(method.rawValue) \(path)") { return }
        try base.register(handler, method: method, path: path)
    }
}
