import Foundation

/// CPU seconds spent while a piece of work ran: by this process (user + system, every thread,
/// the embedded Python's included) and by the whole machine (every process, from /proc/stat).
struct CPUTime: Sendable {
    var process: Double
    var machine: Double

    /// Runs `work` and returns the CPU time it took.
    static func measure(isolation: isolated (any Actor)? = #isolation, _ work: () async throws -> Void) async rethrows -> CPUTime {
        let before = now()
        try await work()
        let after = now()
        return CPUTime(process: after.process - before.process, machine: after.machine - before.machine)
    }

    private static func now() -> CPUTime {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let process = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        // The first line of /proc/stat: jiffies per state since boot; busy = all but idle and iowait.
        let stat = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
        let fields = stat.prefix { $0 != "\n" }.split(separator: " ").dropFirst().compactMap { Double($0) }
        let busy = fields.enumerated().filter { $0.offset != 3 && $0.offset != 4 }.map(\.element).reduce(0, +)
        return CPUTime(process: process, machine: busy / Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}
