import Foundation
import NvisyPluginKit

#if canImport(Glibc)
import Glibc
#endif

// A test fixture for process isolation (issue 11): providers that crash, leak or hang the
// process they run in — the misbehaviour isolation must contain. Never in plugins.d/.

@_cdecl("nvisy_plugin_entry")
public func nvisyPluginEntry(_ host: UnsafeRawPointer?) -> UnsafeRawPointer? {
    export(host, plugin: "hazards", version: "0.1.0", Crash.self, CrashSource.self, Hog.self, Sleeper.self, Spin.self, Probe.self)
}

/// Items seen by this process, across instances: a crash "on the 1000th item" means the
/// 1000th item this process handled, so a restarted process starts counting again.
/// `@unchecked Sendable`: `count` is only touched under `lock`.
final class ProcessCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    /// Adds `n`; answers whether the total reached `limit` with this call.
    func add(_ n: Int, reaching limit: Int) -> Bool {
        lock.withLock {
            let before = count
            count += n
            return before < limit && count >= limit
        }
    }
}

let itemsWritten = ProcessCounter()
let itemsRead = ProcessCounter()

/// A real segmentation fault: a store through an address nothing is mapped at.
func segfault() -> Never {
    let bad = UnsafeMutablePointer<Int>(bitPattern: 16)!
    bad.pointee = 42
    fatalError("unreachable: the store above faults")
}

public struct CrashConfig: Decodable, Sendable {
    public var crashAt: Int?
}

/// `hazards/crash`: a sink that segfaults when this process receives its `crashAt`-th (default 1000th) item.
public final class Crash: SinkProvider {
    public static let name = "crash"
    public static let dataType = DataType.object
    public static let configSchema = #"{"type":"object","properties":{"crashAt":{"type":"integer","minimum":1}}}"#
    let crashAt: Int
    public init(config: CrashConfig, credentials: NoConfig) throws { crashAt = config.crashAt ?? 1000 }

    public func write(_ items: [Item], context: CallContext) throws {
        if itemsWritten.add(items.count, reaching: crashAt) { segfault() }
    }
}

/// `hazards/crashsource`: `count` items (token = index) from a source that segfaults when this
/// process produces its `crashAt`-th (default 1000th) item.
public final class CrashSource: SourceProvider {
    public struct Config: Decodable, Sendable { var count: Int; var crashAt: Int? }
    public static let name = "crashsource"
    public static let dataType = DataType.object
    public static let configSchema = #"{"type":"object","required":["count"],"properties":{"count":{"type":"integer","minimum":0},"crashAt":{"type":"integer","minimum":1}}}"#
    let config: Config
    public init(config: Config, credentials: NoConfig) throws { self.config = config }

    public func read(after resumeToken: Data?, context: CallContext) throws -> any ItemCursor {
        let start = resumeToken.flatMap { Int(String(decoding: $0, as: UTF8.self)) }.map { $0 + 1 } ?? 0
        return Cursor(next: start, end: config.count, crashAt: config.crashAt ?? 1000)
    }

    final class Cursor: ItemCursor {
        var next: Int
        let end: Int
        let crashAt: Int
        init(next: Int, end: Int, crashAt: Int) { self.next = next; self.end = end; self.crashAt = crashAt }

        func next(max: Int, context: CallContext) throws -> [Item] {
            let n = Swift.min(max, end - next)
            guard n > 0 else { return [] }
            if itemsRead.add(n, reaching: crashAt) { segfault() }
            defer { next += n }
            return (next..<(next + n)).map { Item(metadata: ["n": .number(Double($0))], payload: Data("item \($0)".utf8), resumeToken: String($0)) }
        }
    }
}

/// `hazards/hog`: a sink whose write allocates (and touches) memory without bound, 32 MiB at a time.
public final class Hog: SinkProvider {
    public static let name = "hog"
    public static let dataType = DataType.object
    nonisolated(unsafe) static var kept: [[UInt8]] = []  // only the one write call touches it, then the process dies
    public init(config: NoConfig, credentials: NoConfig) throws {}

    public func write(_ items: [Item], context: CallContext) throws {
        while true { Hog.kept.append([UInt8](repeating: 1, count: 32 << 20)) }
    }
}

/// `hazards/sleeper`: a sink whose write never returns and ignores cancellation.
public final class Sleeper: SinkProvider {
    public static let name = "sleeper"
    public static let dataType = DataType.object
    public init(config: NoConfig, credentials: NoConfig) throws {}

    public func write(_ items: [Item], context: CallContext) throws {
        while true { sleep(1) }
    }
}

/// `hazards/spin`: a sink whose write burns CPU forever (and ignores cancellation).
public final class Spin: SinkProvider {
    public static let name = "spin"
    public static let dataType = DataType.object
    public init(config: NoConfig, credentials: NoConfig) throws {}

    public func write(_ items: [Item], context: CallContext) throws {
        var x: UInt64 = 1
        while x != 0 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
    }
}

/// `hazards/probe`: one item describing the process it runs in — uid, environment variable
/// names, open file descriptors, the credentials it was given — so tests can check least privilege.
public final class Probe: SourceProvider {
    public struct Credentials: Decodable, Sendable { var token: String? }
    public static let name = "probe"
    public static let dataType = DataType.record
    public static let credentialsSchema: String? = #"{"type":"object","properties":{"token":{"type":"string"}}}"#
    let token: String?
    public init(config: NoConfig, credentials: Credentials) throws { token = credentials.token }

    public func read(after resumeToken: Data?, context: CallContext) throws -> any ItemCursor {
        let env = ProcessInfo.processInfo.environment.keys.sorted()
        let fdDir = "/proc/self/fd"
        let fds = ((try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? []).sorted().map { fd -> JSON in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDir)/\(fd)")) ?? "?"
            return .string("\(fd) -> \(target)")
        }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        let metadata: JSON = [
            "pid": .number(Double(getpid())), "uid": .number(Double(getuid())), "gid": .number(Double(getgid())),
            "env": .array(env.map { .string($0) }), "fds": .array(fds),
            "token": token.map { .string($0) } ?? .null,
            "memoryLimit": .number(limit.rlim_cur == rlim_t.max ? -1 : Double(limit.rlim_cur)),
        ]
        return SequenceCursor([Item(metadata: metadata, resumeToken: "0")])
    }
}
