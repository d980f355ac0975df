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

    private struct Entry<Value> {
        var value: Value
        var until: ContinuousClock.Instant
    }

    private struct State {
        var enabled = false
        var generation: UInt64 = 0
        var identities: [SHA256Digest: Entry<Identity>] = [:]
        var roles: [RoleKey: Entry<WorkspaceRole?>] = [:]
        var workspaces: [UUID: Entry<WorkspaceRecord?>] = [:]
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
        lookup(\.identities, key)
    }

    /// Remembers a token's identity until `expiresAt` (the token's own end) or the TTL, whichever is first.
    public func store(_ identity: Identity, for key: SHA256Digest, expiresAt: Date?, ticket: Ticket?) {
        remember(\.identities, key, identity, until: deadline(expiresAt), ticket: ticket)
    }

    /// A cached role lookup: `.some(nil)` means "known not to be a member".
    public func role(of account: UUID, in workspace: UUID) -> WorkspaceRole?? {
        lookup(\.roles, RoleKey(account: account, workspace: workspace))
    }

    /// Remembers a role lookup's answer (nil included) for the TTL.
    public func store(role: WorkspaceRole?, of account: UUID, in workspace: UUID, ticket: Ticket?) {
        remember(\.roles, RoleKey(account: account, workspace: workspace), role, until: deadline(nil), ticket: ticket)
    }

    /// A cached workspace row: `.some(nil)` means "known not to exist". The `workspaces` table
    /// is one of those whose changes notify `nvisy_auth`, so a rename by any host clears it.
    public func workspace(_ id: UUID) -> WorkspaceRecord?? {
        lookup(\.workspaces, id)
    }

    /// Remembers a workspace row (nil: there is none) for the TTL.
    public func store(workspace: WorkspaceRecord?, id: UUID, ticket: Ticket?) {
        remember(\.workspaces, id, workspace, until: deadline(nil), ticket: ticket)
    }

    /// A fresh entry of one table; an expired one is dropped on the way.
    private func lookup<Key: Hashable & Sendable, Value: Sendable>(_ table: WritableKeyPath<State, [Key: Entry<Value>]> & Sendable, _ key: Key) -> Value? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard state.enabled, let entry = state[keyPath: table][key] else { return nil }
            guard entry.until > now else {
                state[keyPath: table][key] = nil
                return nil
            }
            return entry.value
        }
    }

    /// Stores an entry unless the cache is off or was cleared since the read began (`ticket`).
    private func remember<Key: Hashable & Sendable, Value: Sendable>(_ table: WritableKeyPath<State, [Key: Entry<Value>]> & Sendable, _ key: Key, _ value: Value,
                                                until: ContinuousClock.Instant, ticket: Ticket?) {
        guard let ticket else { return }
        state.withLock { state in
            guard state.enabled, state.generation == ticket.generation else { return }
            if state[keyPath: table].count >= capacity { state[keyPath: table].removeAll(keepingCapacity: true) }
            state[keyPath: table][key] = Entry(value: value, until: until)
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
