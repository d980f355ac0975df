import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyTestSupport

/// Real peers for the `openai` plugin: llama.cpp's OpenAI-compatible server (llama-cpp-python)
/// serving SmolLM2-135M-Instruct, and a plain HTTP server that answers a fixed status.
/// All run from python/tests/fixtures/openai_servers.py and exit with the test process.
enum OpenAITest {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let venv: URL = {
        if let v = ProcessInfo.processInfo.environment["NVISY_VENV"], !v.isEmpty { return URL(fileURLWithPath: v) }
        return repoRoot.appendingPathComponent(".venv")
    }()
    static let python = venv.appendingPathComponent("bin/python").path
    static let servers = repoRoot.appendingPathComponent("python/tests/fixtures/openai_servers.py").path
    static let libraryDirectory: URL = PluginLibraryResolver.executableDirectory ?? repoRoot.appendingPathComponent(".build/debug")

    static let logger: Logger = {
        var l = Logger(label: "nvisy.openai.tests")
        l.logLevel = .warning
        return l
    }()

    /// The model's embedding size (SmolLM2-135M's hidden size).
    static let smolDimensions = 576

    /// A host with the repository's own plugins.d/openai.toml.
    static func host(timeout: Duration = .seconds(120)) async -> PluginHost {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-openai-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? FileManager.default.copyItem(at: repoRoot.appendingPathComponent("plugins.d/openai.toml"),
                                          to: dir.appendingPathComponent("openai.toml"))
        let host = PluginHost(directory: dir, librarySearchPath: [libraryDirectory],
                              callOptions: ProviderCallOptions(timeout: timeout), logger: logger)
        await host.reload()
        return host
    }

    /// Starts `openai_servers.py <arguments> --port <free port>` and waits until it listens.
    static func start(_ arguments: [String], purpose: String, readyWithin: Duration = .seconds(120)) async throws -> (pid: pid_t, url: String) {
        try await LlamaServers.start(arguments, purpose: purpose, readyWithin: readyWithin)
    }

    static func stop(_ pid: pid_t) async {
        kill(pid, SIGTERM)
        _ = await ChildProcess.wait(pid, timeout: .seconds(10))
    }

    /// The llama.cpp chat server and the embedding server, started once per test process
    /// (shared with other suites through NvisyTestSupport).
    static let llama = LlamaServers.shared
}

/// Tokens with their arrival times, filled from the provider's callback thread.
final class TokenLog: @unchecked Sendable {
    // @unchecked: both arrays are only touched under `lock`.
    private let lock = NSLock()
    private var tokens: [String] = []
    private var times: [ContinuousClock.Instant] = []

    func add(_ token: String) {
        lock.withLock {
            tokens.append(token)
            times.append(.now)
        }
    }

    var all: [String] { lock.withLock { tokens } }
    var arrivals: [ContinuousClock.Instant] { lock.withLock { times } }
}
