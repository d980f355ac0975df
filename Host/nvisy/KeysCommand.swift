import ArgumentParser
import Foundation
import NvisyCore
import NvisyPostgres
import NvisyServer
#if canImport(Glibc)
import Glibc
#endif

/// `nvisy keys generate`: writes a new master key file (mode 0600).
/// `nvisy keys rotate`: re-seals every connection credential under a new master key.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage the master key.", subcommands: [Generate.self, Rotate.self])

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

    /// Re-seals every credential under a new master key, in batches, resumably.
    ///
    /// 1. The new key goes to `<data dir>/master.key.next` (from `--new-key`, else generated);
    ///    a run that finds that file resumes with it.
    /// 2. Batches of `--batch-size` rows not yet sealed with the new key are opened (with the key
    ///    their `key_id` names) and sealed again, each batch in one transaction (rows locked with
    ///    SKIP LOCKED). Hosts keep serving: they open either key and, once the `.next` file exists,
    ///    seal new credentials with the new key.
    /// 3. When no row is left, the new key replaces the master key file (atomic rename) and the
    ///    `.next` file is gone; running hosts re-read the file when they meet the new key id.
    ///    With `NVISY_MASTER_KEY`, it says what to set instead.
    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-encrypt every connection credential under a new master key (resumable).")

        @OptionGroup var options: ServerOptions
        @Option(name: .customLong("new-key"), help: "A master key file to rotate to (default: generate a new key)")
        var newKeyFile: String?
        @Option(name: .customLong("batch-size"), help: "Credentials re-encrypted per transaction (default 100)")
        var batchSize: Int = 100
        @Option(name: .customLong("batch-pause-ms"), help: "Pause between batches, to spare a busy database (default 0)")
        var batchPauseMS: Int = 0

        func validate() throws {
            guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
            guard (0...600_000).contains(batchPauseMS) else { throw ValidationError("--batch-pause-ms must be 0 ... 600000") }
        }

        func run() async throws {
            let config = try options.load()
            let logger = Bootstrap.logging(level: config.logLevel)
            let current = try Bootstrap.masterKey(config, logger: logger)
            let keyring = Bootstrap.keyring(current, config)
            let pending = keyring.pendingPath!
            let resumed = FileManager.default.fileExists(atPath: pending)
            if !resumed {
                let next = try newKeyFile.map { path throws(NvisyError) in try MasterKey.load(from: path) } ?? MasterKey.generate()
                guard CredentialKeyring.keyID(of: next) != CredentialKeyring.keyID(of: current) else {
                    throw NvisyError.invalidInput("the new key is the current master key; pass another --new-key or none to generate one")
                }
                try next.write(to: pending)
            }
            let target = keyring.currentKeyID
            print("\(resumed ? "resuming the rotation" : "rotating") from key \(CredentialKeyring.keyID(of: current)) to key \(target) (pending key: \(pending))")
            fflush(nil)
            // The embedded database belongs to one process at a time: take the data dir lock then.
            let lock = config.databaseURL == nil ? try DirectoryLock(directory: config.dataDirectory) : nil
            let (url, embedded) = try await Bootstrap.database(config, logger: logger)
            let database = NvisyDatabase(url: url, logger: logger)
            let pool = Task { await database.client.run() }
            do {
                try await Bootstrap.waitForDatabase(database, url: url)
                _ = try await database.migrate()
                // One value re-sealed under the target key (the pending key must not change meanwhile).
                let reseal: @Sendable (UUID, UUID, String?, [UInt8]) throws -> [UInt8] = { workspace, id, keyID, sealed in
                    let plain = try keyring.open(sealed, keyID: keyID, workspaceID: workspace, recordID: id)
                    let fresh = try keyring.seal(plain, workspaceID: workspace, recordID: id)
                    guard fresh.keyID == target else { throw NvisyError.conflict("the pending key changed during the rotation; run nvisy keys rotate again") }
                    return fresh.sealed
                }
                let limit = max(1, batchSize)
                let connections = ConnectionRepository(client: database.client, logger: logger)
                try await resealAll("credentials", total: try await connections.countSealed(notWith: target)) {
                    try await connections.resealBatch(notWith: target, limit: limit, reseal: reseal)
                }
                // Webhook secrets are sealed with the same keys.
                let webhooks = WebhookRepository(client: database.client, logger: logger)
                try await resealAll("webhook secrets", total: try await webhooks.countSealed(notWith: target)) {
                    try await webhooks.resealBatch(notWith: target, limit: limit, reseal: reseal)
                }
                try finish(config: config, pending: pending, target: target)
            } catch {
                pool.cancel()
                await pool.value
                await embedded?.stop()
                throw error
            }
            pool.cancel()
            await pool.value
            await embedded?.stop()
            withExtendedLifetime(lock) {}
        }

        /// Runs `batch` (one transaction re-sealing some values, answering how many) until none is
        /// left, printing progress after each.
        func resealAll(_ what: String, total: Int, batch: () async throws -> Int) async throws {
            var done = 0
            while true {
                let n = try await batch()
                if n == 0 { break }
                done += n
                print("re-encrypted \(done)/\(max(total, done)) \(what)")
                // Progress is visible at once even when stdout is a file or a pipe (nil: every output stream).
                fflush(nil)
                if batchPauseMS > 0 { try await Task.sleep(for: .milliseconds(batchPauseMS)) }
            }
        }

        /// Puts the new key where the master key is read from.
        func finish(config: ServerConfiguration, pending: String, target: String) throws {
            let fromEnvironment = config.masterKeyFile == nil && ProcessInfo.processInfo.environment["NVISY_MASTER_KEY"] != nil
            if fromEnvironment {
                print("""
                    every credential is now sealed with key \(target). The master key comes from NVISY_MASTER_KEY: set it to the \
                    contents of \(pending) on every host, restart them, then delete \(pending).
                    """)
                return
            }
            let path = config.masterKeyFile?.path ?? config.dataDirectory.appendingPathComponent("master.key").path
            guard rename(pending, path) == 0 else {
                throw NvisyError.internal("cannot move \(pending) to \(path): \(String(cString: strerror(errno))); move it by hand")
            }
            print("done: every credential is sealed with key \(target), now the master key in \(path). The old key is no longer needed.")
        }
    }
}
