import Foundation
import NvisyCore

/// The unprivileged account that runs the embedded PostgreSQL when the host runs as root
/// (PostgreSQL refuses to run as root).
struct ServiceAccount: Sendable {
    /// The user name, `nvisy` by default (created by scripts/install-deps.sh).
    var user: String
    var uid: uid_t
    var gid: gid_t

    /// The account to run as, or nil when the host is not root and runs PostgreSQL itself.
    static func forEmbeddedPostgres(user: String) throws(NvisyError) -> ServiceAccount? {
        guard geteuid() == 0 else { return nil }
        guard let entry = getpwnam(user) else {
            throw NvisyError.unavailable(
                "PostgreSQL refuses to run as root and the unprivileged user '\(user)' does not exist; create it with `useradd --system \(user)` (make run does this)")
        }
        return ServiceAccount(user: user, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// Wraps a command so it runs as this account (util-linux `setpriv`, no PAM session).
    func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        ("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", executable] + arguments)
    }

    /// Gives the account ownership of `path` (recursively).
    func own(_ path: String) throws(NvisyError) {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return }
        guard chown(path, uid, gid) == 0 else {
            throw NvisyError.unavailable("cannot give \(path) to user \(user): \(String(cString: strerror(errno)))")
        }
        while let relative = enumerator.nextObject() as? String {
            _ = lchown(path + "/" + relative, uid, gid)
        }
    }

    /// Whether the account can reach (search every parent of) and use `path`.
    func canAccess(_ path: String, mode: Int32) async -> Bool {
        let (exe, args) = command("/usr/bin/test", [mode == X_OK ? "-x" : "-r", path])
        let result = try? await ChildProcess.run(exe, arguments: args, timeout: .seconds(10), purpose: "a permission check")
        return result?.status == 0
    }
}
