import Foundation
import NvisyCore
import NvisyTestSupport
import PostgresNIO
import Testing

@testable import NvisyPostgres

@Suite("Migrations")
struct MigrationRunnerTests {
    let extra = Migration(version: 9001, name: "widgets", sql: """
        -- a comment; with a semicolon
        CREATE TABLE widgets (id int PRIMARY KEY, note text DEFAULT 'a;b');
        CREATE FUNCTION widget_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM widgets; $$;
        """)

    private func database() async throws -> NvisyDatabase {
        NvisyDatabase(url: try DatabaseURL(try await TestPostgres.freshDatabase("mig")), logger: TestPostgres.logger)
    }

    @Test("applies every migration once; a second run applies nothing")
    func idempotent() async throws {
        let db = try await database()
        try await withRunningClient(db.client) {
            let runner = MigrationRunner(client: db.client, migrations: Migrations.all + [extra], logger: TestPostgres.logger)
            #expect(try await runner.migrate().count == Migrations.all.count + 1)
            #expect(try await runner.migrate().isEmpty)
            let status = try await runner.status()
            #expect(status.allSatisfy { $0.isApplied && !$0.isModified })
            let rows = try await db.client.query("SELECT widget_count()", logger: TestPostgres.logger)
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
        }
    }

    @Test("two hosts migrating at once apply each migration exactly once")
    func concurrent() async throws {
        let url = try await TestPostgres.freshDatabase("migc")
        let a = NvisyDatabase(url: try DatabaseURL(url), logger: TestPostgres.logger)
        let b = NvisyDatabase(url: try DatabaseURL(url), logger: TestPostgres.logger)
        let migrations = Migrations.all + [extra]
        try await withRunningClient(a.client) {
            try await withRunningClient(b.client) {
                async let first = MigrationRunner(client: a.client, migrations: migrations, logger: TestPostgres.logger).migrate()
                async let second = MigrationRunner(client: b.client, migrations: migrations, logger: TestPostgres.logger).migrate()
                let (one, two) = try await (first, second)
                #expect(one.count + two.count == migrations.count)
                #expect(one.isEmpty || two.isEmpty)
                let rows = try await a.client.query("SELECT count(*) FROM schema_migrations", logger: TestPostgres.logger)
                for try await count in rows.decode(Int.self) { #expect(count == migrations.count) }
            }
        }
    }

    @Test("a migration changed after it was applied stops the run with a clear message")
    func checksumChangeRefused() async throws {
        let db = try await database()
        try await withRunningClient(db.client) {
            try await MigrationRunner(client: db.client, migrations: Migrations.all + [extra], logger: TestPostgres.logger).migrate()
            var changed = extra
            changed.sql += "\nCREATE TABLE gadgets (id int);"
            let error = await #expect(throws: NvisyError.self) {
                try await MigrationRunner(client: db.client, migrations: Migrations.all + [changed], logger: TestPostgres.logger).migrate()
            }
            #expect(error?.message.contains("9001_widgets was changed") == true)
            let rows = try await db.client.query("SELECT to_regclass('gadgets')::text", logger: TestPostgres.logger)
            for try await name in rows.decode(String?.self) { #expect(name == nil) }
        }
    }

    @Test("a failing migration is rolled back whole and not recorded")
    func failureRollsBack() async throws {
        let db = try await database()
        let broken = Migration(version: 9002, name: "broken", sql: "CREATE TABLE half (id int); SELECT * FROM no_such_table;")
        try await withRunningClient(db.client) {
            let error = await #expect(throws: NvisyError.self) {
                try await MigrationRunner(client: db.client, migrations: [broken], logger: TestPostgres.logger).migrate()
            }
            #expect(error?.message.contains("no_such_table") == true)
            let rows = try await db.client.query("SELECT to_regclass('half')::text", logger: TestPostgres.logger)
            for try await name in rows.decode(String?.self) { #expect(name == nil) }
        }
    }

    @Test("every .sql file in Migrations/ is registered, in order, with its number")
    func everyFileRegistered() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Host/NvisyPostgres/Migrations").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files == Migrations.all.map { $0.identifier + ".sql" })
        for migration in Migrations.all {
            let text = try String(contentsOf: folder.appendingPathComponent(migration.identifier + ".sql"), encoding: .utf8)
            #expect(text == migration.sql)
        }
    }
}

@Suite("SQL statement splitter")
struct SQLStatementSplitterTests {
    @Test func splitsOutsideQuotesAndComments() throws {
        let sql = """
            CREATE TABLE a (t text DEFAULT 'x;y', "we;ird" int); -- trailing; comment
            /* block; /* nested; */ still comment; */
            CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$;
            SELECT 'it''s; fine';
            ;
            """
        let parts = SQLStatementSplitter.split(sql)
        try #require(parts.count == 3)
        #expect(parts[0].hasPrefix("CREATE TABLE a"))
        #expect(parts[0].hasSuffix("\"we;ird\" int)"))
        #expect(parts[1].contains("$body$ BEGIN RETURN 1; END; $body$"))
        #expect(parts[2].hasSuffix("'it''s; fine'"))
    }
}
