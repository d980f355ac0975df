import NvisyCore

/// The Hummingbird request context of the OpenAPI operation being handled.
///
/// Generated handlers receive only their typed input, so ``APIContextMiddleware`` puts the
/// request's context (with its identity) here for the duration of the request.
enum APIRequest {
    @TaskLocal static var context: NvisyRequestContext?

    /// The current request's context; an internal error outside a request.
    static func current() throws(NvisyError) -> NvisyRequestContext {
        guard let context else { throw NvisyError.internal("no request context (APIContextMiddleware is missing)") }
        return context
    }
}
