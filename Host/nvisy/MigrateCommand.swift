import ArgumentParser
import Foundation
import NvisyCore
import NvisyPostgres

/// `nvisy migrate [status|up]`: shows or applies the schema migrations.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Show or apply database migrations.")

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case status, up
    }

    @Argument(help: "status (default) or up") var action: Action = .status
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let config = try options.load()
        let logger = Bootstrap.logging(level: config.logLevel)
        let lock = try DirectoryLock(directory: config.dataDirectory)
        let (url, embedded) = try await Bootstrap.database(config, logger: logger)
        let database = NvisyDatabase(url: url, logger: logger)
        let pool = Task { await database.client.run() }
        do {
            try await Bootstrap.waitForDatabase(database, url: url)
            let runner = MigrationRunner(client: database.client, logger: logger)
            if action == .up {
                let applied = try await runner.migrate()
                print(applied.isEmpty ? "nothing to apply" : applied.map { "applied \($0.identifier)" }.joined(separator: "\n"))
            }
            let formatter = ISO8601DateFormatter()
            for status in try await runner.status() {
                let state = status.isModified ? "MODIFIED" : status.appliedAt.map { "applied " + formatter.string(from: $0) } ?? "pending"
                print("\(status.migration.identifier)\t\(state)")
            }
        } catch {
            // Wait for the pool to close before exiting: exiting under a running pool crashes.
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
}
