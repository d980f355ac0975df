import Foundation

/// Owns C strings handed to nats.c config structs for the duration of one call.
final class CStrings {
    private var owned: [UnsafeMutablePointer<CChar>] = []

    func make(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        owned.append(p)
        return UnsafePointer(p)
    }

    func make(_ s: String?) -> UnsafePointer<CChar>? {
        s.map { make($0) }
    }

    /// An array of C strings (for `const char **` fields); freed with the rest.
    func array(_ strings: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
        let arr = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: max(strings.count, 1))
        for (i, s) in strings.enumerated() { arr[i] = make(s) }
        arrays.append(arr)
        return arr
    }

    private var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []

    deinit {
        for p in owned { free(p) }
        for a in arrays { a.deallocate() }
    }
}
