import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps ``AuthCache`` honest across hosts: subscribes to the database's `nvisy_auth`
/// notifications (fired by triggers on sessions, accounts, memberships and workspaces, see
/// migration 0012) and clears the cache on each one.
///
/// The cache serves only while the subscription stands: when the connection drops, the cache is
/// switched off (every request asks the database) until the listener is back.
public struct AuthChangeListener: Service {
    /// The notification channel the migration's triggers use.
    public static let channel = "nvisy_auth"

    let client: PostgresClient
    let cache: AuthCache
    let logger: Logger

    public init(client: PostgresClient, cache: AuthCache, logger: Logger) {
        self.client = client
        self.cache = cache
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await listenUntilCancelled()
        }
        cache.setEnabled(false)
    }

    private func listenUntilCancelled() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        cache.setEnabled(true)
                        failures = 0
                        for try await _ in notifications { cache.invalidateAll() }
                    }
                }
            } catch {
                if Task.isCancelled { break }
                failures += 1
                if failures == 1 {
                    logger.warning("auth cache off: lost the database notification channel", metadata: ["error": "\(String(reflecting: type(of: error)))"])
                }
            }
            cache.setEnabled(false)
            // Back off while the database is away; a second is short beside a restart.
            try? await Task.sleep(for: .milliseconds(min(5000, 250 * (1 << min(failures, 5)))))
        }
    }
}
