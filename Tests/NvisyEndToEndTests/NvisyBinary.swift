import Foundation
import NvisyCore
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The built `nvisy` executable, run as an operator would run it.
enum NvisyBinary {
    /// `.build/<config>/nvisy`, beside the test bundle.
    static var path: String {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("nvisy").path
            if FileManager.default.isExecutableFile(atPath: candidate), !candidate.hasSuffix(".xctest/nvisy") { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/nvisy"
    }

    /// Runs `nvisy args…` to completion.
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(90)) async throws -> ChildProcess.Result {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NVISY_") }
        env["NVISY_VENV"] = nil
        for (k, v) in environment { env[k] = v }
        return try await ChildProcess.run(path, arguments: arguments, environment: env, timeout: timeout, purpose: "nvisy \(arguments.first ?? "")")
    }

    /// `GET http://127.0.0.1:port/path`, or nil if nothing answers.
    static func get(port: Int, path: String) async -> (status: Int, body: String)? {
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else { return nil }
        var request = URLRequest(url: url)
        request.timeoutInterval = 5
        guard let (data, response) = try? await URLSession.shared.data(for: request),
              let http = response as? HTTPURLResponse else { return nil }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }
}
