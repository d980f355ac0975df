import ArgumentParser
import Foundation
import NvisyCore

/// `nvisy login`: signs in (or signs up with `--signup`) and stores the token with the server's
/// URL in `~/.config/nvisy/credentials` (mode 0600) for the other client commands.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login", abstract: "Sign in to an nvisy server and remember the token.")

    @OptionGroup var options: ClientOptions
    @Option(help: "Your email (prompted for when omitted)") var email: String?
    @Option(help: "Your password (default: NVISY_PASSWORD, else prompted for without echo)") var password: String?
    @Flag(help: "Create the account first") var signup = false
    @Option(help: "Your display name, with --signup") var displayName: String?

    func run() async throws {
        let client = try options.client(requireToken: false)
        let email = try email ?? Prompt.line("Email: ")
        let password = try password ?? ProcessInfo.processInfo.environment["NVISY_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Prompt.secret("Password: ")
        let anonymous = APIClient(server: client.server, token: nil)
        let answer: JSONValue?
        if signup {
            let name = displayName ?? String(email.split(separator: "@").first ?? Substring(email))
            answer = try await anonymous.call(.POST, "/api/v1/auth/signup", json: ["email": .string(email), "password": .string(password), "displayName": .string(name)])
        } else {
            answer = try await anonymous.call(.POST, "/api/v1/auth/login", json: ["email": .string(email), "password": .string(password)])
        }
        guard let token = answer?["token"]?.stringValue else { throw NvisyError.internal("the server answered no token") }
        try Credentials(server: client.server, token: token, email: email).save()
        if options.json {
            try Output.json(["server": .string(client.server), "email": .string(email), "expiresAt": answer?["expiresAt"] ?? .null,
                             "credentials": .string(Credentials.path.path)])
        } else {
            print("Logged in to \(client.server) as \(email) (until \(answer?["expiresAt"]?.stringValue ?? "-")); token stored in \(Credentials.path.path)")
        }
    }
}

/// `nvisy logout`: ends the session on the server and forgets the stored token.
struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "End the session and forget the stored token.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        if let client = try? options.client(), let _ = try? await client.call(.POST, "/api/v1/auth/logout") {}
        Credentials.remove()
        print("Logged out.")
    }
}

/// Reading from the terminal.
enum Prompt {
    /// A line from stdin after `message`; an error when stdin is closed.
    static func line(_ message: String) throws -> String {
        FileHandle.standardError.write(Data(message.utf8))
        guard let line = readLine(), !line.isEmpty else { throw NvisyError.invalidInput("no input: give it as an option") }
        return line
    }

    /// A line read with echo off when stdin is a terminal.
    static func secret(_ message: String) throws -> String {
        guard isatty(STDIN_FILENO) == 1 else { return try line(message) }
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return try line(message)
    }
}
