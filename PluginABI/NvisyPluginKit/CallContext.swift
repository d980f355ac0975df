import NvisyPluginABI

/// What a provider call can ask the host: whether to stop, and where to log.
public struct CallContext: @unchecked Sendable {
    let raw: OpaquePointer?

    init(_ raw: OpaquePointer?) { self.raw = raw }

    /// A context that is never cancelled (for calling a provider directly, e.g. in tests).
    public static let none = CallContext(nil)

    /// True once the host wants this call to stop (timeout or caller cancelled).
    /// Poll it in long loops and throw ``PluginError/cancelled``.
    public var isCancelled: Bool {
        guard let raw, let api = Host.api, let fn = api.pointee.is_cancelled else { return false }
        return fn(raw) != 0
    }

    /// Throws ``PluginError/cancelled`` when ``isCancelled``.
    public func checkCancelled() throws {
        if isCancelled { throw PluginError.cancelled }
    }

    /// Log through the host's logger.
    public func log(_ message: String, level: LogLevel = .info) {
        Host.log(message, level: level)
    }
}

/// Log levels the host understands.
public enum LogLevel: Int32, Sendable {
    case debug = 0, info = 1, warning = 2, error = 3
}

/// The host API table, set once by the entry point.
enum Host {
    nonisolated(unsafe) static var api: UnsafePointer<nvisy_host_api>?
    nonisolated(unsafe) static var pluginName: String = "plugin"

    static func log(_ message: String, level: LogLevel) {
        guard let api, let fn = api.pointee.log else { return }
        pluginName.withCString { p in message.withCString { m in fn(level.rawValue, p, m) } }
    }

    /// A NUL-terminated copy of `s` in memory the host owns (it frees it).
    static func hostString(_ s: String) -> UnsafeMutablePointer<CChar>? {
        let bytes = Array(s.utf8)
        let raw: UnsafeMutableRawPointer?
        if let api, let alloc = api.pointee.alloc { raw = alloc(bytes.count + 1) } else { raw = malloc(bytes.count + 1) }
        guard let raw else { return nil }
        let p = raw.bindMemory(to: CChar.self, capacity: bytes.count + 1)
        bytes.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { memcpy(p, base, bytes.count) }
        }
        p[bytes.count] = 0
        return p
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
