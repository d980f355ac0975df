import Foundation

/// Finds the library a Swift plugin's manifest names.
///
/// `library` in a manifest is either an absolute path, or a file name / relative
/// path looked up, in order, in:
/// 1. the manifest's directory (drop a built `.so` next to its manifest),
/// 2. each directory of ``searchPath`` — by default the `NVISY_PLUGIN_PATH`
///    environment variable (colon-separated), then the directory of the running
///    executable (SwiftPM puts `lib*Plugin.so` next to `nvisy` in `.build/<config>/`).
public struct PluginLibraryResolver: Sendable {
    public var searchPath: [URL]

    public init(searchPath: [URL]) {
        self.searchPath = searchPath
    }

    /// `NVISY_PLUGIN_PATH` then the executable's directory.
    public static var defaultSearchPath: [URL] {
        var dirs: [URL] = []
        if let env = ProcessInfo.processInfo.environment["NVISY_PLUGIN_PATH"] {
            dirs += env.split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        }
        if let exe = executableDirectory { dirs.append(exe) }
        return dirs
    }

    /// The directory of the running executable (`/proc/self/exe` on Linux).
    public static var executableDirectory: URL? {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path).deletingLastPathComponent()
        }
        #endif
        return Bundle.main.executableURL?.deletingLastPathComponent()
    }

    /// The candidates tried for `library`, in order.
    public func candidates(for library: String, manifestDirectory: URL) -> [URL] {
        if library.hasPrefix("/") { return [URL(fileURLWithPath: library)] }
        return [manifestDirectory.appendingPathComponent(library)] + searchPath.map { $0.appendingPathComponent(library) }
    }

    /// The first candidate that exists, or nil.
    public func resolve(_ library: String, manifestDirectory: URL) -> URL? {
        candidates(for: library, manifestDirectory: manifestDirectory)
            .first { FileManager.default.fileExists(atPath: $0.path) }?.standardizedFileURL
    }
}
