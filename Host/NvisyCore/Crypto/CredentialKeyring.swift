import Crypto
import Foundation
import Synchronization

/// The master keys that seal connection credentials, by key id, with the one new seals use.
///
/// Each sealed value is stored with the id of the key that sealed it (``keyID(of:)``, a
/// fingerprint that reveals nothing of the key). Key rotation (`nvisy keys rotate`) writes the
/// new key to ``pendingPath`` (`<data dir>/master.key.next`), re-seals every credential under it
/// in batches, and finally moves it over the master key file. Meanwhile a running host keeps
/// working: it opens each value with the key its id names — the old key, or the new one read
/// from the pending file (or the replaced key file) the first time a value needs it — and seals
/// new values with the pending key as soon as that exists, so a rotation never misses one.
public final class CredentialKeyring: Sendable {
    struct State {
        var keys: [String: MasterKey]
        var current: MasterKey
        var stamps: [String: Date] = [:]
    }

    /// The master key file this host loaded (re-read when it changes), when it came from a file.
    public let primaryPath: String?
    /// Where a rotation in progress keeps the new key.
    public let pendingPath: String?
    private let state: Mutex<State>

    public init(primary: MasterKey, primaryPath: String? = nil, pendingPath: String? = nil) {
        self.primaryPath = primaryPath
        self.pendingPath = pendingPath
        state = Mutex(State(keys: [Self.keyID(of: primary): primary], current: primary))
        refresh()
    }

    /// A 16-hex-digit fingerprint of a master key (SHA-256 of a label and the key).
    public static func keyID(of key: MasterKey) -> String {
        let digest = SHA256.hash(data: Array("nvisy master key id v1".utf8) + key.bytes)
        return digest.prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// The id of the key new values are sealed with.
    public var currentKeyID: String {
        refresh()
        return state.withLock { Self.keyID(of: $0.current) }
    }

    /// Seals `plaintext` for record `recordID` of `workspaceID` under the current key.
    public func seal(_ plaintext: [UInt8], workspaceID: UUID, recordID: UUID) throws(NvisyError) -> (sealed: [UInt8], keyID: String) {
        refresh()
        let key = state.withLock { $0.current }
        return (try CredentialCipher(masterKey: key).seal(plaintext, workspaceID: workspaceID, recordID: recordID), Self.keyID(of: key))
    }

    /// Opens a value sealed under the key `keyID` (nil: the current key, for values from before key ids).
    public func open(_ sealed: [UInt8], keyID: String?, workspaceID: UUID, recordID: UUID) throws(NvisyError) -> [UInt8] {
        var key = lookup(keyID)
        if key == nil {
            refresh()
            key = lookup(keyID)
        }
        guard let key else {
            throw NvisyError.internal("credentials of \(recordID.uuidString.lowercased()) were sealed with master key \(keyID ?? "?"), which this host does not have; start it with the current master key (see nvisy keys rotate)")
        }
        return try CredentialCipher(masterKey: key).open(sealed, workspaceID: workspaceID, recordID: recordID)
    }

    private func lookup(_ keyID: String?) -> MasterKey? {
        state.withLock { state in keyID.map { state.keys[$0] } ?? state.current }
    }

    /// Re-reads the key files when they appeared or changed; the pending key, when present, becomes current.
    private func refresh() {
        if let key = changedKey(at: primaryPath) { adopt(key) }
        if let pendingPath, FileManager.default.fileExists(atPath: pendingPath), let key = changedKey(at: pendingPath) { adopt(key) }
    }

    private func adopt(_ key: MasterKey) {
        state.withLock { state in
            state.keys[Self.keyID(of: key)] = key
            state.current = key
        }
    }

    /// The key in the file at `path` when the file is new or changed since the last look.
    private func changedKey(at path: String?) -> MasterKey? {
        guard let path, let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let stamp = attributes[.modificationDate] as? Date else { return nil }
        if state.withLock({ $0.stamps[path] }) == stamp { return nil }
        guard let key = try? MasterKey.load(from: path) else { return nil }
        state.withLock { $0.stamps[path] = stamp }
        return key
    }
}
