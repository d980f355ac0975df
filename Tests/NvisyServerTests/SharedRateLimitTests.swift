import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyServer

/// Login attempts are counted in the database, so two hosts of one installation share one
/// limit instead of allowing twice as many guesses.
@Suite struct SharedRateLimitTests {
    @Test func attemptsOnTwoHostsCountAgainstOneLimit() async throws {
        let first = try await APIFixture.make("ratelimit_shared") { $0.authAttemptsPerAccount = 3 }
        // A second host: its own API stack and memory, the same database.
        var settings = APISettings()
        settings.authAttemptsPerAccount = 3
        let second = APIFixture(database: first.database,
                                api: APIDependencies(client: first.database.client, keys: await SessionKeys.ephemeral(),
                                                     hasher: try PasswordHasher.fastForTests(), settings: settings, logger: TestPostgres.logger),
                                pool: first.pool)
        let wrong: [String: String] = ["email": "shared@example.com", "password": "wrong password!!"]
        try await first.app().test(.router) { a in
            _ = try await a.signup("shared@example.com")
            try await second.app().test(.router) { b in
                var statuses: [HTTPResponse.Status] = []
                statuses.append(try await a.call(.post, "/api/v1/auth/login", json: wrong).status)
                statuses.append(try await b.call(.post, "/api/v1/auth/login", json: wrong).status)
                statuses.append(try await a.call(.post, "/api/v1/auth/login", json: wrong).status)
                // The fourth attempt overall, on the host that has seen only one so far.
                let fourth = try await b.call(.post, "/api/v1/auth/login", json: wrong)
                statuses.append(fourth.status)
                #expect(statuses == [.unauthorized, .unauthorized, .unauthorized, .tooManyRequests])
                #expect(fourth.headers[.retryAfter].flatMap(Int.init).map { $0 > 0 && $0 <= 60 } == true)
            }
        }
        // What is stored is a digest, never the email typed.
        let keys = try await first.database.client.query("SELECT key, hits FROM rate_limits", logger: TestPostgres.logger)
        var rows: [(Data, Int32)] = []
        for try await row in keys.decode((Data, Int32).self) { rows.append(row) }
        #expect(rows.contains { $0.1 == 4 && $0.0.count == 32 })
        #expect(!rows.contains { String(decoding: $0.0, as: UTF8.self).contains("shared@") })
        await first.stop()
    }

    @Test func aWindowStartsAgainAfterItEnds() async throws {
        let fixture = try await APIFixture.make("ratelimit_window")
        // 5 s: three attempts must land inside one window even on a loaded machine.
        let limiter = RateLimiter(limit: 2, window: .seconds(5), counters: fixture.api.rateLimits)
        #expect(try await limiter.hit("ip:192.0.2.1") == nil)
        #expect(try await limiter.hit("ip:192.0.2.1") == nil)
        let wait = try #require(try await limiter.hit("ip:192.0.2.1"))
        #expect(wait > .zero && wait <= .seconds(5))
        // Another key has its own count.
        #expect(try await limiter.hit("ip:192.0.2.2") == nil)
        try await Task.sleep(for: .milliseconds(5500))
        #expect(try await limiter.hit("ip:192.0.2.1") == nil)
        await fixture.stop()
    }
}
