import Foundation
import NvisyCore

/// What `nvisy login` remembers: the server and a token, in `~/.config/nvisy/credentials`
/// (JSON, mode 0600, because the token is as good as the password until it expires).
struct Credentials: Codable, Sendable, Equatable {
    var server: String
    var token: String
    var email: String?

    /// `$XDG_CONFIG_HOME/nvisy/credentials`, else `~/.config/nvisy/credentials`.
    static var path: URL {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: env["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".config")
        return base.appendingPathComponent("nvisy/credentials")
    }

    /// The stored credentials, or nil when there are none.
    static func load() throws -> Credentials? {
        let url = path
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(Credentials.self, from: Data(contentsOf: url))
        } catch {
            throw NvisyError.invalidInput("cannot read \(url.path) (\(error.localizedDescription)); run `nvisy login` again")
        }
    }

    /// Writes the file with mode 0600 from the start: it is created with that mode, never
    /// written first and tightened after, so the token is never readable by others.
    func save() throws {
        let url = Self.path
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let tmp = url.path + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw NvisyError.internal("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, 0o600)
        close(fd)
        guard written == data.count, rename(tmp, url.path) == 0 else {
            unlink(tmp)
            throw NvisyError.internal("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the stored credentials (logout).
    static func remove() { try? FileManager.default.removeItem(at: path) }
}
