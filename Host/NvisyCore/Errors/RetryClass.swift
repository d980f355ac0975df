/// Whether repeating a failed operation, unchanged, may succeed.
public enum RetryClass: String, Sendable, Codable, CaseIterable {
    /// A passing condition (a timeout, a restart, a rate limit): retry with backoff.
    case transient
    /// Retrying the same thing fails the same way: report it.
    case permanent
}
