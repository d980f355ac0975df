import Foundation
import NvisyCore

/// llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server` from llama-cpp-python)
/// serving SmolLM2-135M-Instruct as model `smollm2` on loopback, started from
/// python/tests/fixtures/openai_servers.py: a real peer for the `openai` plugin and for chats
/// through it. The script exits with the test process.
public actor LlamaServers {
    /// The one set of servers of this test process.
    public static let shared = LlamaServers()

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The project venv (`NVISY_VENV`, else `./.venv` of the checkout).
    public static let venv: URL = {
        if let v = ProcessInfo.processInfo.environment["NVISY_VENV"], !v.isEmpty { return URL(fileURLWithPath: v) }
        return repoRoot.appendingPathComponent(".venv")
    }()
    static let script = repoRoot.appendingPathComponent("python/tests/fixtures/openai_servers.py").path

    private var chat: Task<String, Error>?
    private var embedding: Task<String, Error>?

    /// Base URL (…/v1) of the chat server, started on first call.
    public func chatURL() async throws -> String {
        if chat == nil { chat = Task { try await Self.start(["llama"], purpose: "llama.cpp chat server").url + "/v1" } }
        return try await chat!.value
    }

    /// Base URL (…/v1) of the embedding server (llama-cpp-python serves embeddings only from a
    /// model loaded with `--embedding`), started on first call.
    public func embeddingURL() async throws -> String {
        if embedding == nil {
            embedding = Task { try await Self.start(["llama", "--embedding"], purpose: "llama.cpp embedding server").url + "/v1" }
        }
        return try await embedding!.value
    }

    /// Starts `openai_servers.py <arguments> --port <free port>` and waits until it listens.
    public static func start(_ arguments: [String], purpose: String, readyWithin: Duration = .seconds(120)) async throws -> (pid: pid_t, url: String) {
        let port = try FreePort.loopback()
        let python = venv.appendingPathComponent("bin/python").path
        let pid = try ChildProcess.spawn(python, arguments: [script] + arguments + ["--port", "\(port)"], purpose: purpose)
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
}
