import CSodium

/// libsodium's one-time initialisation.
enum Sodium {
    /// `sodium_init` is thread-safe and idempotent; a static let runs it once per process.
    private static let initialised: Bool = sodium_init() >= 0

    /// Initialises libsodium, failing only if the library cannot find a random source.
    static func ensureInitialised() throws(NvisyError) {
        guard initialised else {
            throw NvisyError.internal("libsodium failed to initialise (no usable random source)")
        }
    }

    /// `count` cryptographically random bytes.
    static func randomBytes(_ count: Int) throws(NvisyError) -> [UInt8] {
        try ensureInitialised()
        var bytes = [UInt8](repeating: 0, count: count)
        if count > 0 { bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
        return bytes
    }
}
