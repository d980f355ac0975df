import Crypto
import Foundation
import NvisyPostgres
import Synchronization

/// A short-lived, in-process memory of who a bearer token is, which role an account has in a
/// workspace, and the workspace rows themselves, so that a read request does not pay a signature
/// check and several database round trips every time.
///
/// Correctness comes before hits:
/// - It only answers while ``AuthChangeListener`` is subscribed to the database's `nvisy_auth`
///   notifications (a trigger fires them on every change to sessions, API tokens, accounts,
///   memberships and workspaces, whoever makes it: this host, another host, `nvisy` on the
///   command line). Without that subscription nothing is cached and every request goes to the
///   database, as before.
/// - Any change clears everything ("generation" bump): changes to who may do what are rare
///   beside reads, and a coarse clear cannot miss a dependent entry.
/// - A value read from the database is stored only if no clear happened since the read began,
///   so a request racing a logout cannot put the pre-logout answer back.
/// - Entries also expire after `ttl`, and never outlive the token itself.
///
/// Keys are SHA-256 digests of the tokens: the cache never holds a bearer secret.
public final class AuthCache: Sendable {
    /// How long an entry may be used without being read again from the database.
    public let ttl: Duration
    /// Most identities (and, separately, roles) kept; past it the cache starts over.
    public let capacity: Int

    private struct RoleKey: Hashable {
        var account: UUID
        var workspace: UUID
    }

    private struct State {
        var enabled = false
        var generation: UInt64 = 0
        var identities: [SHA256Digest: (identity: Identity, until: ContinuousClock.Instant)] = [:]
        var roles: [RoleKey: (role: WorkspaceRole?, until: ContinuousClock.Instant)] = [:]
        var workspaces: [UUID: (record: WorkspaceRecord?, until: ContinuousClock.Instant)] = [:]
    }

    private let state = Mutex(State())

    public init(ttl: Duration = .seconds(60), capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// A ticket for one database read: nil when the cache is off (do not store the result).
    public struct Ticket: Sendable {
        let generation: UInt64
    }

    /// Whether entries are served (the listener is subscribed and the TTL is positive).
    public var isEnabled: Bool { state.withLock { $0.enabled } }

    /// Turns serving on or off; either way everything cached so far is dropped.
    public func setEnabled(_ enabled: Bool) {
        state.withLock { state in
            state.enabled = enabled && ttl > .zero
            Self.clear(&state)
        }
    }

    /// Forgets everything: something that decides authentication or roles has changed.
    public func invalidateAll() {
        state.withLock { Self.clear(&$0) }
    }

    /// The generation a caller must quote when storing what it is about to read.
    public func ticket() -> Ticket? {
        state.withLock { $0.enabled ? Ticket(generation: $0.generation) : nil }
    }

    /// The digest the cache files a bearer token under.
    public static func key(for token: String) -> SHA256Digest {
        SHA256.hash(data: Data(token.utf8))
    }

    /// The identity a token proved recently, if it is still fresh.
    public func identity(for key: SHA256Digest) -> Identity? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard state.enabled, let entry = state.identities[key] else { return nil }
            guard entry.until > now else {
                state.identities[key] = nil
                return nil
            }
            return entry.identity
        }
    }

    /// Remembers a token's identity until `expiresAt` (the token's own end) or the TTL, whichever is first.
    public func store(_ identity: Identity, for key: SHA256Digest, expiresAt: Date?, ticket: Ticket?) {
        guard let ticket else { return }
        let until = deadline(expiresAt)
        state.withLock { state in
            guard state.enabled, state.generation == ticket.generation else { return }
            if state.identities.count >= capacity { state.identities.removeAll(keepingCapacity: true) }
            state.identities[key] = (identity, until)
        }
    }

    /// A cached role lookup: `.some(nil)` means "known not to be a member".
    public func role(of account: UUID, in workspace: UUID) -> WorkspaceRole?? {
        let now = ContinuousClock.now
        return state.withLock { state in
            let key = RoleKey(account: account, workspace: workspace)
            guard state.enabled, let entry = state.roles[key] else { return nil }
            guard entry.until > now else {
                state.roles[key] = nil
                return nil
            }
            return .some(entry.role)
        }
    }

    /// Remembers a role lookup's answer (nil included) for the TTL.
    public func store(role: WorkspaceRole?, of account: UUID, in workspace: UUID, ticket: Ticket?) {
        guard let ticket else { return }
        let until = deadline(nil)
        state.withLock { state in
            guard state.enabled, state.generation == ticket.generation else { return }
            if state.roles.count >= capacity { state.roles.removeAll(keepingCapacity: true) }
            state.roles[RoleKey(account: account, workspace: workspace)] = (role, until)
        }
    }

    /// A cached workspace row: `.some(nil)` means "known not to exist". The `workspaces` table
    /// is one of those whose changes notify `nvisy_auth`, so a rename by any host clears it.
    public func workspace(_ id: UUID) -> WorkspaceRecord?? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard state.enabled, let entry = state.workspaces[id] else { return nil }
            guard entry.until > now else {
                state.workspaces[id] = nil
                return nil
            }
            return .some(entry.record)
        }
    }

    /// Remembers a workspace row (nil: there is none) for the TTL.
    public func store(workspace: WorkspaceRecord?, id: UUID, ticket: Ticket?) {
        guard let ticket else { return }
        let until = deadline(nil)
        state.withLock { state in
            guard state.enabled, state.generation == ticket.generation else { return }
            if state.workspaces.count >= capacity { state.workspaces.removeAll(keepingCapacity: true) }
            state.workspaces[id] = (workspace, until)
        }
    }

    private func deadline(_ expiresAt: Date?) -> ContinuousClock.Instant {
        var until = ContinuousClock.now.advanced(by: ttl)
        if let expiresAt {
            let left = expiresAt.timeIntervalSinceNow
            until = min(until, ContinuousClock.now.advanced(by: .milliseconds(Int64(max(0, left) * 1000))))
        }
        return until
    }

    private static func clear(_ state: inout State) {
        state.generation &+= 1
        state.identities.removeAll()
        state.roles.removeAll()
        state.workspaces.removeAll()
    }
}
