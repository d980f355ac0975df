import Foundation

/// An exclusive, process-wide lock on a directory (`flock` on a lock file inside it).
///
/// Held for as long as the value lives; the kernel drops it when the process dies, so a
/// crashed host never leaves a stale lock behind.
public final class DirectoryLock: Sendable {
    /// The lock file's path.
    public let path: String
    private let descriptor: Int32

    /// Takes the lock or fails at once with an error that names the holder's pid.
    ///
    /// - Parameter inUse: the conflict message, given " (pid N)" or ""; the default speaks of
    ///   another nvisy on a data directory.
    public init(directory: URL, name: String = "nvisy.lock",
                inUse: ((_ holder: String) -> String)? = nil) throws(NvisyError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw NvisyError.invalidInput("cannot create data directory \(directory.path): \(error.localizedDescription)")
        }
        path = directory.appendingPathComponent(name).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw NvisyError.invalidInput("cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            let who = holder.flatMap { $0.isEmpty ? nil : " (pid \($0))" } ?? ""
            throw NvisyError.conflict(inUse?(who)
                ?? "another nvisy is already running on data directory \(directory.path)\(who); stop it first or choose another --data-dir")
        }
        descriptor = fd
        previousOwner = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
            pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        recordOwner(pid: getpid())
    }

    /// The pid the lock file named before this lock was taken: the owner of an earlier,
    /// ended holder (it may have left a child running).
    public let previousOwner: pid_t?

    /// Writes `pid` into the lock file, so a conflict message can name the process that
    /// really uses the directory (a child server rather than the host).
    public func recordOwner(pid: pid_t) {
        ftruncate(descriptor, 0)
        let bytes = Array("\(pid)\n".utf8)
        _ = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
