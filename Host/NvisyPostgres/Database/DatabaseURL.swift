import Foundation
import NvisyCore
import PostgresNIO

/// A `postgres://user:password@host:port/database?sslmode=…` URL, parsed into a postgres-nio
/// configuration. Its ``redacted`` form is the only one that may be logged.
public struct DatabaseURL: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// `disable` (default), `prefer` or `require`.
    public var sslMode: String

    public init(_ text: String) throws(NvisyError) {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else {
            throw NvisyError.invalidInput("database URL must look like postgres://user:password@host:5432/database", pointer: "/database-url")
        }
        guard let host = components.host, !host.isEmpty else {
            throw NvisyError.invalidInput("database URL has no host", pointer: "/database-url")
        }
        guard let user = components.user, !user.isEmpty else {
            throw NvisyError.invalidInput("database URL has no user name", pointer: "/database-url")
        }
        self.host = host
        port = components.port ?? 5432
        username = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? username : path
        sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        guard ["disable", "prefer", "require"].contains(sslMode) else {
            throw NvisyError.invalidInput("database URL sslmode must be disable, prefer or require (got \(sslMode))", pointer: "/database-url")
        }
    }

    /// The URL without its password.
    public var redacted: String { "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(sslMode)" }

    /// TLS for a single connection (health probes, admin work) to this URL.
    public var connectionTLS: PostgresConnection.Configuration.TLS {
        switch sslMode {
        case "require": (try? NIOSSLContext(configuration: .makeClientConfiguration())).map { .require($0) } ?? .disable
        case "prefer": (try? NIOSSLContext(configuration: .makeClientConfiguration())).map { .prefer($0) } ?? .disable
        default: .disable
        }
    }

    /// A client configuration for this URL.
    public var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS = switch sslMode {
        case "require": .require(.makeClientConfiguration())
        case "prefer": .prefer(.makeClientConfiguration())
        default: .disable
        }
        var config = PostgresClient.Configuration(host: host, port: port, username: username, password: password,
                                                  database: database, tls: tls)
        config.options.connectTimeout = .seconds(5)
        return config
    }
}
