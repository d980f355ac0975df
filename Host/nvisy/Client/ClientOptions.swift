import ArgumentParser
import Foundation
import NvisyCore

/// Options every client command shares: which server, which token, and table or JSON output.
/// Precedence: flags, then `NVISY_SERVER` / `NVISY_TOKEN`, then what `nvisy login` stored.
struct ClientOptions: ParsableArguments {
    @Option(help: "The server's URL (default: NVISY_SERVER, else the one you logged in to, else http://127.0.0.1:8080)")
    var server: String?

    @Flag(help: "Print JSON instead of a table") var json = false

    static let defaultServer = "http://127.0.0.1:8080"

    /// A client for the chosen server with the chosen token; `requireToken` says the command
    /// cannot work signed out, and says how to sign in.
    func client(requireToken: Bool = true) throws -> APIClient {
        let env = ProcessInfo.processInfo.environment
        let stored = try Credentials.load()
        let base = server ?? env["NVISY_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? stored?.server ?? Self.defaultServer
        let normalized = try Self.normalize(base)
        var token = env["NVISY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        // A stored token belongs to the server it was issued by: never send it to another one.
        if token == nil, let stored, (try? Self.normalize(stored.server)) == normalized { token = stored.token }
        if requireToken, token == nil {
            throw NvisyError.unauthorized("not logged in to \(normalized): run `nvisy login --server \(normalized)` or set NVISY_TOKEN")
        }
        return APIClient(server: normalized, token: token)
    }

    /// `http(s)://host[:port]` without a trailing slash; anything else is a clear error.
    static func normalize(_ text: String) throws -> String {
        var value = text.trimmingCharacters(in: .whitespaces)
        while value.hasSuffix("/") { value.removeLast() }
        guard let url = URL(string: value), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw NvisyError.invalidInput("--server must be an http:// or https:// URL, got \"\(text)\"")
        }
        return value
    }
}
