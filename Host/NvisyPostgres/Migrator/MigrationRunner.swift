import Foundation
import Logging
import NvisyCore
import PostgresNIO

/// Applies ``Migrations`` to a database, safely from any number of hosts at once.
///
/// The runner holds a session-level `pg_advisory_lock` for the whole run, so when two hosts
/// start together one applies and the other finds nothing left to do. Each migration runs in
/// its own transaction together with its row in `schema_migrations`, so a failure leaves no
/// half-applied migration behind. A migration whose file changed after it was applied
/// (checksum mismatch) stops startup.
public struct MigrationRunner: Sendable {
    /// The advisory lock key ("nvisy" in ASCII), shared by every nvisy host.
    public static let lockKey: Int64 = 0x6E_76_69_73_79

    /// What the database has of one migration.
    public struct Status: Sendable, Equatable {
        public var migration: Migration
        public var appliedAt: Date?
        /// The checksum recorded when it was applied, if it was.
        public var appliedChecksum: String?
        public var isApplied: Bool { appliedAt != nil }
        public var isModified: Bool { appliedChecksum.map { $0 != migration.checksum } ?? false }
    }

    public let client: PostgresClient
    public let migrations: [Migration]
    let logger: Logger

    public init(client: PostgresClient, migrations: [Migration] = Migrations.all, logger: Logger) {
        self.client = client
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Every known migration with whether and when it was applied.
    public func status() async throws(NvisyError) -> [Status] {
        try await withLockedConnection { connection in
            let applied = try await appliedRows(connection)
            return migrations.map { m in
                Status(migration: m, appliedAt: applied[m.version]?.at, appliedChecksum: applied[m.version]?.checksum)
            }
        }
    }

    /// Applies every pending migration in order and returns the ones it applied.
    @discardableResult
    public func migrate() async throws(NvisyError) -> [Migration] {
        try await withLockedConnection { connection in
            let applied = try await appliedRows(connection)
            for m in migrations {
                if let row = applied[m.version], row.checksum != m.checksum {
                    throw NvisyError.conflict(
                        "migration \(m.identifier) was changed after it was applied (checksum \(row.checksum.prefix(12))… in the database, \(m.checksum.prefix(12))… in this build); restore the original file and put the change in a new migration")
                }
            }
            let known = Set(migrations.map(\.version))
            let unknown = applied.keys.filter { !known.contains($0) }.sorted()
            if !unknown.isEmpty {
                logger.warning("the database has migrations this nvisy does not know: \(unknown); a newer nvisy applied them")
            }
            var done: [Migration] = []
            for m in migrations where applied[m.version] == nil {
                try await apply(m, on: connection)
                done.append(m)
            }
            return done
        }
    }

    private func apply(_ migration: Migration, on connection: PostgresConnection) async throws(NvisyError) {
        logger.info("applying migration \(migration.identifier)")
        let statements = SQLStatementSplitter.split(migration.sql)
        do {
            try await connection.execute("BEGIN", logger: logger)
            for statement in statements {
                try await connection.execute(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))",
                logger: logger)
            try await connection.execute("COMMIT", logger: logger)
        } catch {
            try? await connection.execute("ROLLBACK", logger: logger)
            throw NvisyError.internal("migration \(migration.identifier) failed and was rolled back: \(PostgresErrorText.describe(error))")
        }
    }

    private func appliedRows(_ connection: PostgresConnection) async throws -> [Int: (at: Date, checksum: String)] {
        var result: [Int: (at: Date, checksum: String)] = [:]
        let rows = try await connection.query("SELECT version, applied_at, checksum FROM schema_migrations", logger: logger)
        for try await (version, at, checksum) in rows.decode((Int, Date, String).self) {
            result[version] = (at, checksum)
        }
        return result
    }

    /// Runs `body` on one connection holding the migration lock, with the bookkeeping table in place.
    private func withLockedConnection<T: Sendable>(
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws(NvisyError) -> T {
        do {
            return try await client.withConnection { connection in
                try await connection.execute("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
                do {
                    try await connection.execute("""
                        CREATE TABLE IF NOT EXISTS schema_migrations (
                            version integer PRIMARY KEY,
                            name text NOT NULL,
                            checksum text NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now()
                        )
                        """, logger: logger)
                    let result = try await body(connection)
                    try await connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                    return result
                } catch {
                    try? await connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                    throw error
                }
            }
        } catch let error as NvisyError {
            throw error
        } catch {
            throw NvisyError.unavailable("cannot run migrations: \(PostgresErrorText.describe(error))")
        }
    }
}
