import ArgumentParser
import Foundation
import NvisyCore

/// `nvisy keys generate`: writes a new master key file (mode 0600).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage the master key.", subcommands: [Generate.self])

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a new random master key file (mode 0600).")

        @Option(name: .shortAndLong, help: "Where to write it (default ./.nvisy/master.key); an existing file is never replaced")
        var output: String = "./.nvisy/master.key"

        func run() async throws {
            let key = try MasterKey.generate()
            try key.write(to: output)
            print("wrote a new master key to \(output) (mode 0600); keep a copy somewhere safe: credentials cannot be decrypted without it")
        }
    }
}
