import Foundation
import Logging
import NvisyPluginABI

#if canImport(Glibc)
import Glibc
#endif

/// The host API table handed to every Swift plugin's entry point, and the log
/// destination for plugin messages.
enum HostAPI {
    private static let loggerLock = NSLock()
    nonisolated(unsafe) private static var _logger = Logger(label: "nvisy.plugins")

    static var logger: Logger {
        get { loggerLock.withLock { _logger } }
        set { loggerLock.withLock { _logger = newValue } }
    }

    /// Lives for the life of the process (plugins keep the pointer).
    nonisolated(unsafe) static let table: UnsafePointer<nvisy_host_api> = {
        let p = UnsafeMutablePointer<nvisy_host_api>.allocate(capacity: 1)
        p.initialize(to: nvisy_host_api(
            abi_major: UInt32(NVISY_ABI_MAJOR),
            abi_minor: UInt32(NVISY_ABI_MINOR),
            log: { level, plugin, message in
                let name = plugin.map { String(cString: $0) } ?? "plugin"
                let text = message.map { String(cString: $0) } ?? ""
                let lvl: Logger.Level = switch level {
                case 0: .debug
                case 1: .info
                case 2: .warning
                default: .error
                }
                HostAPI.logger.log(level: lvl, "\(text)", metadata: ["plugin": "\(name)"])
            },
            is_cancelled: { ctx in
                guard let ctx else { return 0 }
                return Unmanaged<CallContextBox>.fromOpaque(UnsafeRawPointer(ctx)).takeUnretainedValue().isCancelled ? 1 : 0
            },
            alloc: { size in malloc(max(size, 1)) },
            free: { ptr in free(ptr) }))
        return UnsafePointer(p)
    }()
}

/// The `nvisy_context` behind a call or a cursor: a cancel flag and a deadline.
final class CallContextBox: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var deadline: UInt64 = .max

    var pointer: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Starts a call: clears the flag and sets the deadline.
    func arm(timeout: Duration?) {
        let d: UInt64 = timeout.map { t in
            let (s, a) = t.components
            return CallContextBox.now() &+ UInt64(max(0, s)) * 1_000_000_000 &+ UInt64(max(0, a) / 1_000_000_000)
        } ?? .max
        lock.withLock {
            cancelled = false
            deadline = d
        }
    }

    func cancel() { lock.withLock { cancelled = true } }

    var wasCancelled: Bool { lock.withLock { cancelled } }
    var deadlinePassed: Bool { CallContextBox.now() > lock.withLock { deadline } }
    var isCancelled: Bool {
        let (c, d) = lock.withLock { (cancelled, deadline) }
        return c || (d != .max && CallContextBox.now() > d)
    }
}
