import Foundation
import Logging
import NvisyCore
import NvisyPlugins

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
        let port = try FreePort.loopback()
        let pid = try ChildProcess.spawn(python, arguments: [servers] + arguments + ["--port", "\(port)"], purpose: purpose)
        let deadline = ContinuousClock.now + readyWithin
        while !FreePort.isListening(port) {
            guard ContinuousClock.now < deadline, ChildProcess.isRunning(pid) else {
                kill(pid, SIGKILL)
                throw NvisyError.unavailable("\(purpose) did not start on port \(port) (is llama-cpp-python[server] installed? see scripts/install-deps.sh)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return (pid, "http://127.0.0.1:\(port)")
    }

    static func stop(_ pid: pid_t) async {
        kill(pid, SIGTERM)
        _ = await ChildProcess.wait(pid, timeout: .seconds(10))
    }

    /// The llama.cpp chat server and the embedding server (llama-cpp-python serves embeddings
    /// only from a model loaded with `--embedding`), started once per test process.
    static let llama = LlamaServers()
}

/// Lazily started llama.cpp servers shared by the tests of this process. They exit by
/// themselves when the test process ends (the script watches its parent).
actor LlamaServers {
    private var chat: Task<String, Error>?
    private var embedding: Task<String, Error>?

    /// Base URL (…/v1) of the chat server.
    func chatURL() async throws -> String {
        if chat == nil { chat = Task { try await OpenAITest.start(["llama"], purpose: "llama.cpp chat server").url + "/v1" } }
        return try await chat!.value
    }

    /// Base URL (…/v1) of the embedding server.
    func embeddingURL() async throws -> String {
        if embedding == nil {
            embedding = Task { try await OpenAITest.start(["llama", "--embedding"], purpose: "llama.cpp embedding server").url + "/v1" }
        }
        return try await embedding!.value
    }
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
