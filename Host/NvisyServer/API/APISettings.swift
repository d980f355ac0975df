import Foundation

/// The API's tunables, from ``ServerConfiguration`` (or set directly in tests).
public struct APISettings: Sendable {
    /// How long a session JWT lives.
    public var sessionLifetime: Duration = .seconds(24 * 3600)
    /// Origins allowed to call the API from a browser (exact `scheme://host[:port]`, or `*`).
    public var corsOrigins: [String] = []
    /// The largest request body, in bytes.
    public var maxBodyBytes: Int = 1 << 20
    /// A request that takes longer is answered 503.
    public var requestTimeout: Duration = .seconds(30)
    /// Login and signup attempts allowed per client IP per minute.
    public var authAttemptsPerIP: Int = 20
    /// Login attempts allowed per email per minute.
    public var authAttemptsPerAccount: Int = 5
    /// The Python venv whose `swagger_ui_bundle` package serves `/api/docs`.
    public var venvDirectory: URL? = nil
    /// The largest uploaded file, in bytes (uploads stream; `maxBodyBytes` does not apply to them).
    public var maxFileBytes: Int64 = 1 << 30
    /// The most bytes of files one workspace may keep; 0 for no limit.
    public var workspaceQuotaBytes: Int64 = 0
    /// How long `POST /connections/{id}/check` waits for the provider.
    public var connectionCheckTimeout: Duration = .seconds(15)
    /// How long ``AuthCache`` may serve an entry (zero: no cache).
    public var authCacheTTL: Duration = .seconds(60)
    /// pgvector's `hnsw.ef_search` for knowledge-base searches: higher finds more of the true
    /// nearest chunks (recall) at more cost per query.
    public var hnswEfSearch: Int = 100
    /// Send `Strict-Transport-Security` (on unless the server is plain-HTTP-only on purpose).
    public var hsts: Bool = true

    public init() {}
}
