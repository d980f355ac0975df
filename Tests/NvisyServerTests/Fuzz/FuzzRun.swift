import Foundation
import Testing

/// Runs a property over many generated cases with a printed, reproducible seed.
///
/// `make test` runs the base case counts; `make check-all` sets `FUZZ_SCALE` (a multiplier) for
/// the long run, `FUZZ_SEED` replays a reported failure and `FUZZ_CASE` runs only the case of that
/// index (inputs are a function of seed, parser name and index alone). (Not `NVISY_*`: those belong to the
/// nvisy process, whose loader refuses names it does not know.)
enum FuzzRun {
    static let environment = ProcessInfo.processInfo.environment

    /// The case-count multiplier (≥ 1).
    static var scale: Int { max(1, Int(environment["FUZZ_SCALE"] ?? "") ?? 1) }

    /// The base seed: fixed, so every run of `make test` is the same run, unless `FUZZ_SEED` is set.
    static var seed: UInt64 { UInt64(environment["FUZZ_SEED"] ?? "") ?? 0x6E76_6973_7900_0010 }

    /// A case slower than this counts as a hang: the parsers are synchronous, so a real hang shows as
    /// this test never ending (bounded by the suite's time limit) — and a slow one is reported here.
    static let slowCase: Duration = .seconds(8)

    /// Only this case index, when set (a replay).
    static var only: Int? { Int(environment["FUZZ_CASE"] ?? "") }

    /// Calls `body` `count × scale` times, each with its own generator seeded from the base seed and
    /// the case index, and records the first failure with the seed that reproduces it.
    static func cases(_ name: String, _ count: Int, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: (_ rng: inout FuzzRandom, _ index: Int) async throws -> Void) async {
        let total = count * scale
        let base = seed ^ UInt64(truncatingIfNeeded: name.hashValueStable)
        let clock = ContinuousClock()
        var slowest: Duration = .zero
        for index in only.map({ [$0] }) ?? Array(0..<total) {
            // Most parsers are synchronous: without a yield, three fuzz suites would hold both
            // cooperative threads for their whole run, and every timing test running beside
            // them would see its timers fire seconds late.
            await Task.yield()
            var rng = FuzzRandom(seed: base &+ UInt64(index))
            let start = clock.now
            do {
                try await body(&rng, index)
            } catch {
                Issue.record("\(name): case \(index) failed (replay: FUZZ_SEED=\(seed) FUZZ_CASE=\(index)): \(error)",
                             sourceLocation: sourceLocation)
                return
            }
            let took = clock.now - start
            slowest = max(slowest, took)
            if took > slowCase {
                Issue.record("\(name): case \(index) took \(took) (> \(slowCase)); replay: FUZZ_SEED=\(seed) FUZZ_CASE=\(index)",
                             sourceLocation: sourceLocation)
                return
            }
        }
        print("fuzz \(name): \(total) cases, seed \(seed), slowest \(slowest)")
    }
}

extension FuzzRun {
    /// Writes the input about to be parsed to `/tmp/nvisy-fuzz-last-<name>.bin`: a parser that aborts
    /// the process (a C or C++ assertion) leaves no Swift failure to print, but this file holds the input.
    static func remember(_ name: String, _ input: [UInt8]) {
        let file = "/tmp/nvisy-fuzz-last-" + name.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined() + ".bin"
        FileManager.default.createFile(atPath: file, contents: Data(input))
    }
}

/// A failed property, with the input that broke it (shortened and escaped so it prints).
struct FuzzFailure: Error, CustomStringConvertible {
    let message: String
    let input: [UInt8]

    init(_ message: String, input: [UInt8]) {
        self.message = message
        self.input = input
    }

    var description: String {
        let shown = input.prefix(400).map { b -> String in
            (0x20..<0x7F).contains(b) && b != 0x5C ? String(UnicodeScalar(b)) : String(format: "\\x%02x", b)
        }.joined()
        return "\(message) — input (\(input.count) bytes): \(shown)\(input.count > 400 ? "…" : "")"
    }
}

extension String {
    /// FNV-1a: `hashValue` is randomised per process and would make seeds unrepeatable.
    var hashValueStable: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
