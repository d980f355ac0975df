import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyServer

/// The in-memory auth cache: it serves only while subscribed to the database's change
/// notifications, and any change — made through this host or straight in the database, as another
/// host would — takes effect.
@Suite struct AuthCacheTests {
    /// A fixture whose cache listens to the database, as `nvisy serve` does.
    private static func listening(_ name: String) async throws -> (APIFixture, Task<Void, Never>) {
        let fixture = try await APIFixture.make(name)
        let listener = AuthChangeListener(client: fixture.database.client, cache: fixture.api.authCache, logger: TestPostgres.logger)
        let task = Task<Void, Never> { try? await listener.run() }
        for _ in 0..<200 where !fixture.api.authCache.isEnabled { try await Task.sleep(for: .milliseconds(25)) }
        try #require(fixture.api.authCache.isEnabled)
        return (fixture, task)
    }

    /// Polls a request until it answers `status` (the database's notification is asynchronous).
    private static func eventually(_ status: HTTPResponse.Status, within seconds: Double = 5,
                                   _ request: () async throws -> HTTPResponse.Status) async throws -> HTTPResponse.Status {
        let deadline = Date().addingTimeInterval(seconds)
        var last = try await request()
        while last != status, Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            last = try await request()
        }
        return last
    }

    @Test func aSessionRevokedStraightInTheDatabaseStopsWorkingThoughItWasCached() async throws {
        let (fixture, listener) = try await Self.listening("authcache_revoke")
        try await fixture.app().test(.router) { client in
            let (token, id) = try await client.signup("cache@example.com")
            #expect(try await client.call(.get, "/api/v1/account", token: token).status == .ok)
            #expect(try await client.call(.get, "/api/v1/account", token: token).status == .ok)
            // The second request was served from memory.
            #expect(fixture.api.authCache.identity(for: AuthCache.key(for: token)) != nil)
            // Another host (or the CLI) revokes every session of the account.
            try await fixture.api.sessions.revokeAll(accountID: UUID(uuidString: id)!)
            let status = try await Self.eventually(.unauthorized) {
                try await client.call(.get, "/api/v1/account", token: token).status
            }
            #expect(status == .unauthorized)
            #expect(fixture.api.authCache.identity(for: AuthCache.key(for: token)) == nil)
        }
        listener.cancel()
        await listener.value
        await fixture.stop()
    }

    @Test func logoutOnThisHostTakesEffectOnTheVeryNextRequest() async throws {
        let (fixture, listener) = try await Self.listening("authcache_logout")
        try await fixture.app().test(.router) { client in
            let (token, _) = try await client.signup("logout@example.com")
            #expect(try await client.call(.get, "/api/v1/account", token: token).status == .ok)
            #expect(fixture.api.authCache.identity(for: AuthCache.key(for: token)) != nil)
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: token).status == .noContent)
            // No waiting: the logout cleared this host's cache before it answered.
            #expect(try await client.call(.get, "/api/v1/account", token: token).status == .unauthorized)
        }
        listener.cancel()
        await listener.value
        await fixture.stop()
    }

    @Test func aMembershipAddedInTheDatabaseReplacesACachedNotAMember() async throws {
        let (fixture, listener) = try await Self.listening("authcache_member")
        try await fixture.app().test(.router) { client in
            let (owner, _) = try await client.signup("owner@example.com")
            let (guest, guestID) = try await client.signup("guest@example.com")
            let created = try await client.call(.post, "/api/v1/workspaces", token: owner, json: ["name": "Shared"])
            let workspace = try #require(created.body["id"] as? String)
            #expect(try await client.call(.get, "/api/v1/workspaces/\(workspace)", token: guest).status == .notFound)
            // "Not a member" is now cached.
            #expect(fixture.api.authCache.role(of: UUID(uuidString: guestID)!, in: UUID(uuidString: workspace)!) == .some(nil))
            _ = try await fixture.database.client.query("""
                INSERT INTO workspace_members (workspace_id, account_id, role)
                VALUES (\(UUID(uuidString: workspace)!), \(UUID(uuidString: guestID)!), 'viewer')
                """, logger: TestPostgres.logger)
            let status = try await Self.eventually(.ok) {
                try await client.call(.get, "/api/v1/workspaces/\(workspace)", token: guest).status
            }
            #expect(status == .ok)
            // And a demotion straight in the database is seen too.
            _ = try await fixture.database.client.query("""
                UPDATE workspace_members SET role = 'viewer'
                WHERE workspace_id = \(UUID(uuidString: workspace)!) AND role = 'owner'
                """, logger: TestPostgres.logger)
            let patched = try await Self.eventually(.forbidden) {
                try await client.call(.patch, "/api/v1/workspaces/\(workspace)", token: owner, json: ["name": "Renamed"]).status
            }
            #expect(patched == .forbidden)
        }
        listener.cancel()
        await listener.value
        await fixture.stop()
    }

    @Test func aWorkspaceRenamedInTheDatabaseIsServedWithItsNewName() async throws {
        let (fixture, listener) = try await Self.listening("authcache_workspace")
        try await fixture.app().test(.router) { client in
            let (owner, _) = try await client.signup("rename@example.com")
            let created = try await client.call(.post, "/api/v1/workspaces", token: owner, json: ["name": "Before"])
            let workspace = try #require(created.body["id"] as? String)
            let id = try #require(UUID(uuidString: workspace))
            #expect(try await client.call(.get, "/api/v1/workspaces/\(workspace)", token: owner).body["name"] as? String == "Before")
            // The row is now served from memory.
            #expect(fixture.api.authCache.workspace(id)??.name == "Before")
            // Another host renames it.
            _ = try await fixture.database.client.query("UPDATE workspaces SET name = 'After' WHERE id = \(id)", logger: TestPostgres.logger)
            let deadline = Date().addingTimeInterval(5)
            var name = try await client.call(.get, "/api/v1/workspaces/\(workspace)", token: owner).body["name"] as? String
            while name != "After", Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
                name = try await client.call(.get, "/api/v1/workspaces/\(workspace)", token: owner).body["name"] as? String
            }
            #expect(name == "After")
            // A rename through this host is answered at once, without waiting for the notification.
            #expect(try await client.call(.patch, "/api/v1/workspaces/\(workspace)", token: owner, json: ["name": "Third"]).status == .ok)
            #expect(try await client.call(.get, "/api/v1/workspaces/\(workspace)", token: owner).body["name"] as? String == "Third")
        }
        listener.cancel()
        await listener.value
        await fixture.stop()
    }

    @Test func withoutTheListenerNothingIsCached() async throws {
        let fixture = try await APIFixture.make("authcache_off")
        #expect(!fixture.api.authCache.isEnabled)
        try await fixture.app().test(.router) { client in
            let (token, _) = try await client.signup("off@example.com")
            #expect(try await client.call(.get, "/api/v1/account", token: token).status == .ok)
            #expect(fixture.api.authCache.identity(for: AuthCache.key(for: token)) == nil)
        }
        await fixture.stop()
    }

    @Test func aReadThatRacedAClearIsNotStored() throws {
        let cache = AuthCache(ttl: .seconds(60))
        cache.setEnabled(true)
        let role = (account: UUID(), workspace: UUID())
        let ticket = cache.ticket()
        cache.invalidateAll()  // a change lands while the read is in flight
        cache.store(role: .owner, of: role.account, in: role.workspace, ticket: ticket)
        #expect(cache.role(of: role.account, in: role.workspace) == nil)
        cache.store(role: .owner, of: role.account, in: role.workspace, ticket: cache.ticket())
        #expect(cache.role(of: role.account, in: role.workspace) == .some(.owner))
        cache.setEnabled(false)
        #expect(cache.role(of: role.account, in: role.workspace) == nil)
        #expect(cache.ticket() == nil)
        let off = AuthCache(ttl: .zero)
        off.setEnabled(true)
        #expect(!off.isEnabled)
    }

    @Test func entriesExpireAfterTheirTTL() async throws {
        let cache = AuthCache(ttl: .milliseconds(50))
        cache.setEnabled(true)
        let (account, workspace) = (UUID(), UUID())
        cache.store(role: .viewer, of: account, in: workspace, ticket: cache.ticket())
        #expect(cache.role(of: account, in: workspace) == .some(.viewer))
        try await Task.sleep(for: .milliseconds(120))
        #expect(cache.role(of: account, in: workspace) == nil)
    }
}
