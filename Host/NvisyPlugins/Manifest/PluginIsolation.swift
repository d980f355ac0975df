import NvisyCore
import TOMLKit

/// Where a plugin's providers run (the manifest's `isolation`).
public enum PluginIsolation: String, Sendable, Hashable, Codable, CaseIterable {
    /// In the host's own process: fastest; a crash in the plugin takes the host down.
    case none
    /// In a `nvisy plugin-host` child process per plugin: a crash, a runaway allocation or a
    /// hang is contained, the child is restarted and the calls in flight fail transiently.
    case process
}

extension PluginManifest {
    /// Reads `isolation`, `memory_limit_mb` and `cpu_limit_seconds`.
    mutating func parseIsolation(_ table: TOMLTable, _ bad: (String) -> NvisyError) throws {
        if let value = table["isolation"] {
            let allowed = PluginIsolation.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
            guard let text = value.string, let mode = PluginIsolation(rawValue: text) else {
                throw bad("`isolation` must be \(allowed), not \(value.string.map { "\"\($0)\"" } ?? String(describing: value))")
            }
            isolation = mode
        }
        func positive(_ key: String) throws -> Int? {
            guard let value = table[key] else { return nil }
            guard let n = value.int, n > 0 else { throw bad("`\(key)` must be a positive integer") }
            guard isolation == .process else { throw bad("`\(key)` applies only with isolation = \"process\"") }
            return n
        }
        memoryLimitMB = try positive("memory_limit_mb")
        cpuLimitSeconds = try positive("cpu_limit_seconds")
        if let m = memoryLimitMB, m < 512 {
            throw bad("`memory_limit_mb` = \(m) is too small: the plugin host process alone (its Swift runtime, threads and the 32 MiB shared region) needs about 300 MiB of address space; use 512 or more")
        }
    }
}
