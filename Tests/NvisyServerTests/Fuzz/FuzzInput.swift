import Foundation

/// SplitMix64: a tiny deterministic generator, so a failing case is reproduced from its seed alone
/// (the system generator cannot be seeded).
struct FuzzRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0..<items.count)] }
}

/// Hostile variants of valid samples: the mutations a fuzzer would find first (truncation, byte
/// flips, splices, deep nesting, NUL, invalid UTF-8, enormous numbers, duplicated keys).
struct FuzzMutator {
    /// Valid inputs the mutations start from.
    var samples: [[UInt8]]
    /// Format tokens worth inserting (JSON or TOML syntax, boundaries, ...).
    var tokens: [[UInt8]]

    init(samples: [String], tokens: [String] = []) {
        self.samples = samples.map { Array($0.utf8) }
        self.tokens = (tokens + Self.commonTokens).map { Array($0.utf8) } + Self.rawTokens
    }

    /// Tokens every format gets: numbers past every integer and float type, escapes of NUL,
    /// lone surrogates, long strings.
    static let commonTokens = [
        "0", "-1", "1e999999", "-1e-999999", "99999999999999999999999999999999", "-9223372036854775809",
        "9223372036854775808", "NaN", "Infinity", "0x7fffffff", "1.7976931348623157e309", "\"\\u0000\"",
        "\"\\ud800\"", "\"\\udfff\\ud800\"", "\"\\u", "\\", "\"", "'", "null", "true", "false", "[]", "{}",
        "=", ",", ":", "\r\n", "\n", "#", "[[", "]]", "\"" + String(repeating: "x", count: 5000) + "\"",
    ]

    /// Bytes that are not valid UTF-8 (lone continuation, overlong, surrogate, truncated sequence) and NUL.
    static let rawTokens: [[UInt8]] = [[0x00], [0xFF], [0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0xFE, 0xFF]]

    /// One input: mostly a valid sample with 1–4 mutations, sometimes pure random bytes.
    func next(_ rng: inout FuzzRandom) -> [UInt8] {
        if rng.chance(0.05) { return (0..<rng.int(0..<256)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var bytes = rng.pick(samples)
        for _ in 0..<rng.int(1..<5) { mutate(&bytes, &rng) }
        return bytes
    }

    func mutate(_ bytes: inout [UInt8], _ rng: inout FuzzRandom) {
        let at = bytes.isEmpty ? 0 : rng.int(0..<(bytes.count + 1))
        switch rng.int(0..<11) {
        case 0: bytes = Array(bytes.prefix(at))  // truncation
        case 1:
            if !bytes.isEmpty { bytes[min(at, bytes.count - 1)] ^= UInt8(1) << UInt8(rng.int(0..<8)) }  // bit flip
        case 2:
            if !bytes.isEmpty { bytes[min(at, bytes.count - 1)] = rng.pick([0x00, 0xFF, 0x80, 0x7F, 0x22, 0x5C, 0x7B, 0x5B, 0x0A, 0x3D]) }
        case 3, 4: bytes.insert(contentsOf: rng.pick(tokens), at: at)  // a format token anywhere
        case 5:  // delete a range
            let end = min(bytes.count, at + rng.int(1..<32))
            if at < end { bytes.removeSubrange(at..<end) }
        case 6:  // duplicate a range (duplicate keys, repeated parts)
            let end = min(bytes.count, at + rng.int(1..<64))
            if at < end { bytes.insert(contentsOf: Array(bytes[at..<end]), at: end) }
        case 7:  // splice with another sample
            let other = rng.pick(samples)
            let from = other.isEmpty ? 0 : rng.int(0..<other.count)
            bytes = Array(bytes.prefix(at)) + Array(other.suffix(from: from))
        case 8:  // deep nesting
            let depth = rng.pick([64, 600, 5_000, 50_000])
            let open = rng.pick(["[", "{\"a\":", "[{\"x\":"])
            bytes.insert(contentsOf: Array(String(repeating: open, count: depth).utf8), at: at)
        case 9:  // huge repetition of a token
            let token = rng.pick(tokens)
            let count = min(rng.int(100..<2_000), 200_000 / max(1, token.count))
            bytes.insert(contentsOf: Array(repeating: token, count: count).flatMap { $0 }, at: at)
        default:  // random bytes
            bytes.insert(contentsOf: (0..<rng.int(1..<16)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
        }
    }
}
