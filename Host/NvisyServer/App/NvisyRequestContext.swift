import Hummingbird

/// The per-request context every nvisy route receives.
public struct NvisyRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's id (`x-request-id`), set by ``RequestIDMiddleware``.
    public var requestID: String = ""

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
