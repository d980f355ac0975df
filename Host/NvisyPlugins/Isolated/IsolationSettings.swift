import Foundation

/// How the host starts `isolation = "process"` plugins.
public struct IsolationSettings: Sendable, Hashable {
    /// The `nvisy` executable that serves `plugin-host`. Default: this process when it is
    /// `nvisy`, else `nvisy` next to this executable (tests and benchmarks).
    public var executable: URL
    /// When the host runs as root, children switch to this user before loading a plugin.
    public var user: String?
    /// Address-space cap for a child when its manifest sets none (`memory_limit_mb`).
    public var defaultMemoryLimitMB: Int
    /// The first restart after a crash waits this long; each further crash in a row doubles it.
    public var restartBackoff: Duration
    /// The longest wait before a restart.
    public var maxRestartBackoff: Duration

    public init(executable: URL = IsolationSettings.defaultExecutable, user: String? = "nvisy",
                defaultMemoryLimitMB: Int = 4096, restartBackoff: Duration = .milliseconds(100),
                maxRestartBackoff: Duration = .seconds(10)) {
        self.executable = executable
        self.user = user
        self.defaultMemoryLimitMB = defaultMemoryLimitMB
        self.restartBackoff = restartBackoff
        self.maxRestartBackoff = maxRestartBackoff
    }

    public static let `default` = IsolationSettings()

    public static var defaultExecutable: URL {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        if me.lastPathComponent == "nvisy" { return me }
        let dir = PluginLibraryResolver.executableDirectory ?? URL(fileURLWithPath: ".")
        return dir.appendingPathComponent("nvisy")
    }

    /// The environment a child gets: a PATH and a locale, nothing of the host's (no NVISY_* secrets).
    static let childEnvironment = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]
}

/// A plugin's isolation state, as `GET /api/v1/plugins` shows it.
public struct IsolationStatus: Sendable, Hashable {
    /// The running child's pid, nil when none runs (not started yet, or crashed and not needed since).
    public var childPid: Int?
    /// Children started after a crash or kill.
    public var restarts: Int
    /// Why the last child died, if one did.
    public var lastCrash: String?
}
