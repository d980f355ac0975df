import Foundation

extension UUID {
    /// A new version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then random bits,
    /// so ids sort by creation time and index well in Postgres.
    public static func v7(now: Date = Date()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        return v7(millis: millis(now), random: (generator.next(), generator.next()))
    }

    /// `count` new version 7 UUIDs for one instant, with the random bits of all of them drawn in
    /// one call to the system's generator (a `getrandom` call per 8 bytes, as
    /// SystemRandomNumberGenerator makes, cost more than writing the rows they name).
    public static func v7Batch(count: Int, now: Date = Date()) -> [UUID] {
        guard count > 0 else { return [] }
        var random = [UInt64](repeating: 0, count: 2 * count)
        // glibc's arc4random_buf: getrandom-backed, like SystemRandomNumberGenerator, in one call.
        random.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
        let ms = millis(now)
        return (0..<count).map { v7(millis: ms, random: (random[2 * $0], random[2 * $0 + 1])) }
    }

    private static func millis(_ now: Date) -> UInt64 { UInt64(max(0, now.timeIntervalSince1970 * 1000)) }

    private static func v7(millis: UInt64, random: (UInt64, UInt64)) -> UUID {
        let (a, b) = random
        func byte(_ x: UInt64, _ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: x >> (8 * UInt64(i))) }
        return UUID(uuid: (
            byte(millis, 5), byte(millis, 4), byte(millis, 3), byte(millis, 2), byte(millis, 1), byte(millis, 0),
            (byte(a, 0) & 0x0F) | 0x70,  // version 7
            byte(a, 1),
            (byte(b, 0) & 0x3F) | 0x80,  // RFC 9562 variant
            byte(b, 1), byte(b, 2), byte(b, 3), byte(b, 4), byte(b, 5), byte(b, 6), byte(b, 7)))
    }

    /// The RFC 9562 version number of this UUID (7 for ``v7(now:)``).
    public var version: Int { Int(uuid.6 >> 4) }
}
