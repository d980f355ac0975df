import Hummingbird

/// The per-request context every nvisy route receives.
public struct NvisyRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's id (`x-request-id`), set by ``RequestIDMiddleware``.
    public var requestID: String = ""
    /// The authenticated caller, set by ``AuthenticationMiddleware`` from the bearer token (nil: anonymous).
    /// Check it with `requireSignedIn()`, `requireInstanceAdmin()` or `require(_:in:)`.
    public var identity: Identity?
    /// Where `require(_:in:)` looks up the caller's workspace roles (set with the identity).
    public var workspaceRoles: (any WorkspaceRoleLookup)?
    /// The peer's IP address, when the transport knows it (rate limits).
    public var remoteIP: String?

    public init(source: Source) {
        coreContext = .init(source: source)
        remoteIP = source.channel.remoteAddress?.ipAddress
    }
}
