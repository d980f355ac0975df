import Foundation

/// A value guarded by a lock.
///
/// `@unchecked Sendable` is safe here: the only stored state is `value`, and
/// it is read and written exclusively inside `withLock`, which holds `lock`
/// (an `NSLock`) for the whole access, so no two threads touch it at once.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
