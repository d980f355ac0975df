import CSodium
import Dispatch
import NvisyCore

/// Argon2id password hashing (libsodium `crypto_pwhash_str_alg`), run off the cooperative
/// thread pool because one hash takes tens of milliseconds and tens of MiB on purpose.
public struct PasswordHasher: Sendable {
    public var opsLimit: UInt64
    public var memLimit: Int
    /// A hash of a random password, verified against when an email is unknown so that the
    /// answer takes as long as for a known one.
    let decoy: String

    /// libsodium's "interactive" cost (2 passes, 64 MiB): the production default.
    public static func interactive() throws(NvisyError) -> PasswordHasher {
        try PasswordHasher(opsLimit: UInt64(crypto_pwhash_opslimit_interactive()), memLimit: crypto_pwhash_memlimit_interactive())
    }

    /// The cheapest cost libsodium allows: for tests only.
    public static func fastForTests() throws(NvisyError) -> PasswordHasher {
        try PasswordHasher(opsLimit: UInt64(crypto_pwhash_opslimit_min()), memLimit: crypto_pwhash_memlimit_min())
    }

    public init(opsLimit: UInt64, memLimit: Int) throws(NvisyError) {
        guard sodium_init() >= 0 else { throw NvisyError.internal("libsodium failed to initialise") }
        self.opsLimit = opsLimit
        self.memLimit = memLimit
        var random = [UInt8](repeating: 0, count: 24)
        randombytes_buf(&random, random.count)
        decoy = try Self.hashNow(random.map { String(format: "%02x", $0) }.joined(), opsLimit: opsLimit, memLimit: memLimit)
    }

    /// The encoded Argon2id hash (`$argon2id$v=19$m=…`) of a password.
    public func hash(_ password: String) async throws(NvisyError) -> String {
        let (ops, mem) = (opsLimit, memLimit)
        let result: Result<String, NvisyError> = await Self.offload {
            Result { () throws(NvisyError) in try Self.hashNow(password, opsLimit: ops, memLimit: mem) }
        }
        return try result.get()
    }

    /// Whether `password` matches `hash`; with a nil hash (unknown account) it checks a decoy
    /// and answers false, taking the same time.
    public func verify(_ password: String, against hash: String?) async -> Bool {
        let stored = hash ?? decoy
        let matches = await Self.offload {
            Array(stored.utf8CString).withUnsafeBufferPointer { hashPointer in
                crypto_pwhash_str_verify(hashPointer.baseAddress!, password, UInt64(password.utf8.count)) == 0
            }
        }
        return matches && hash != nil
    }

    static func hashNow(_ password: String, opsLimit: UInt64, memLimit: Int) throws(NvisyError) -> String {
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()))
        let status = crypto_pwhash_str_alg(&out, password, UInt64(password.utf8.count), opsLimit, memLimit,
                                           crypto_pwhash_alg_argon2id13())
        guard status == 0 else { throw NvisyError.unavailable("password hashing ran out of memory; try again") }
        return String(cString: out)
    }

    private static let queue = DispatchQueue(label: "nvisy.password-hashing", attributes: .concurrent)

    private static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}
