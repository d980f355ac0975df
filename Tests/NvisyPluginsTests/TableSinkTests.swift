import Foundation
import NvisyCore
import Testing
@testable import NvisyPlugins

/// postgres/table's sink on a real PostgreSQL: the COPY-into-staging path and its fallback.
@Suite("postgres/table sink", .serialized)
struct TableSinkTests {
    static func sink(_ url: String, _ table: String, columns: [String]? = nil) async throws -> any SinkInstance {
        var config: JSONValue = ["url": .string(url), "table": .string(table), "key": "id"]
        if let columns, case .object(var o) = config {
            o["columns"] = .array(columns.map { .string($0) })
            config = .object(o)
        }
        return try await FlowTests.shippedHost().makeSink("postgres/table", config: config)
    }

    static func record(_ json: String) -> ProviderItem { ProviderItem(metadata: Data(json.utf8)) }

    @Test("upserts existing keys, keeps the last of a key repeated in a batch, escapes text, and sets missing fields NULL")
    func upsert() async throws {
        let url = try await FlowPostgres.freshDatabase()
        try FlowPostgres.exec(url, "CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL, age integer, ok boolean, score numeric)")
        try FlowPostgres.exec(url, "INSERT INTO t VALUES (1, 'old', 50, false, 1.5)")
        let sink = try await Self.sink(url, "t")
        try await sink.write([
            Self.record(#"{"id":1,"name":"new","age":"51"}"#),
            Self.record(#"{"id":"2","name":"tab\there\nnew line \\ back \"q\" \u00e9 \ud83d\ude00","age":null,"ok":true,"score":-2.5e1}"#),
            Self.record(#"{"id":3,"name":"first"}"#),
            Self.record(#" { "id" : 3 , "name" : "last" } "#),
        ])
        let rows = try FlowPostgres.exec(url, "SELECT id, name, coalesce(age::text, 'NULL'), coalesce(ok::text, 'NULL'), coalesce(score::text, 'NULL') FROM t ORDER BY id")
        #expect(rows == [
            ["1", "new", "51", "NULL", "NULL"],  // fields missing from the batch's records are NULL, as before
            ["2", "tab\there\nnew line \\ back \"q\" é 😀", "NULL", "true", "-25"],
            ["3", "last", "NULL", "NULL", "NULL"],
        ])
        // Writing the same batch again changes nothing (idempotent).
        try await sink.write([Self.record(#"{"id":3,"name":"last"}"#)])
        #expect(try FlowPostgres.exec(url, "SELECT count(*) FROM t").first == ["3"])
        await sink.close()
    }

    @Test("nested values go through json_populate_recordset; configured columns ignore other fields")
    func nestedAndColumns() async throws {
        let url = try await FlowPostgres.freshDatabase()
        try FlowPostgres.exec(url, "CREATE TABLE d (id integer PRIMARY KEY, doc jsonb, tags text[], note text)")
        let sink = try await Self.sink(url, "d")
        try await sink.write([Self.record(#"{"id":1,"doc":{"a":[1,2]},"tags":["x","y"]}"#), Self.record(#"{"id":2,"note":"n"}"#)])
        #expect(try FlowPostgres.exec(url, "SELECT id, doc::text, array_to_string(tags, '|') FROM d WHERE id = 1") == [["1", #"{"a": [1, 2]}"#, "x|y"]])
        let some = try await Self.sink(url, "d", columns: ["note"])
        try await some.write([Self.record(#"{"id":2,"note":"changed","shoe":42}"#)])
        #expect(try FlowPostgres.exec(url, "SELECT note FROM d WHERE id = 2") == [["changed"]])
        await sink.close()
        await some.close()
    }

    @Test("a batch with a row the table refuses writes nothing and names the problem; the rest then go in")
    func refusedRow() async throws {
        let url = try await FlowPostgres.freshDatabase()
        try FlowPostgres.exec(url, "CREATE TABLE p (id integer PRIMARY KEY, name text NOT NULL, age integer CHECK (age >= 0))")
        let sink = try await Self.sink(url, "p")
        let good = (0..<10).map { Self.record(#"{"id":\#($0),"name":"p\#($0)","age":\#($0)}"#) }
        for bad in [#"{"id":99,"name":"neg","age":-1}"#, #"{"id":98,"age":3}"#, #"{"id":97,"name":"x","age":"old"}"#, #"{"name":"no key"}"#] {
            do {
                try await sink.write(good + [Self.record(bad)])
                Issue.record("expected \(bad) to be refused")
            } catch let e as NvisyError {
                #expect(!e.message.isEmpty)
            }
            #expect(try FlowPostgres.exec(url, "SELECT count(*) FROM p").first == ["0"], "a failed batch wrote rows")
        }
        // The connection is usable after the failures (the transaction was rolled back).
        try await sink.write(good)
        #expect(try FlowPostgres.exec(url, "SELECT count(*) FROM p").first == ["10"])
        // The staging table survives a reconnect: kill the session, write again.
        try FlowPostgres.exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'nvisy-postgres-plugin'")
        var written = false
        for _ in 0..<3 where !written {
            do { try await sink.write([Self.record(#"{"id":50,"name":"after","age":1}"#)]); written = true } catch {}
        }
        #expect(written)
        #expect(try FlowPostgres.exec(url, "SELECT name FROM p WHERE id = 50") == [["after"]])
        await sink.close()
    }

    @Test("new keys go straight in by COPY; a batch meeting existing or repeated keys is merged, nothing written twice")
    func straightCopyThenMerge() async throws {
        let url = try await FlowPostgres.freshDatabase()
        try FlowPostgres.exec(url, "CREATE TABLE s (id integer PRIMARY KEY, name text NOT NULL)")
        // Which statement wrote each row: COPY (straight in) or INSERT (the merge from the stage).
        try FlowPostgres.exec(url, "CREATE TABLE s_log (id integer, how text)")
        try FlowPostgres.exec(url, """
            CREATE FUNCTION s_log() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO s_log VALUES (NEW.id, CASE WHEN strpos(current_query(), 'COPY') > 0 THEN 'COPY' ELSE 'INSERT' END); RETURN NEW; END $$
            """)
        try FlowPostgres.exec(url, "CREATE TRIGGER s_log AFTER INSERT OR UPDATE ON s FOR EACH ROW EXECUTE FUNCTION s_log()")
        let sink = try await Self.sink(url, "s")
        func batch(_ ids: [Int], _ name: String) -> [ProviderItem] { ids.map { Self.record(#"{"id":\#($0),"name":"\#(name)"}"#) } }
        func log() throws -> [[String]] { try FlowPostgres.exec(url, "SELECT how, count(*)::text FROM s_log GROUP BY how ORDER BY how") }

        try await sink.write(batch(Array(0..<100), "a"))
        #expect(try log() == [["COPY", "100"]])
        // A resumed run sends rows already written, with new ones: merged, each row written once more.
        try await sink.write(batch(Array(90..<120), "b"))
        #expect(try log() == [["COPY", "100"], ["INSERT", "30"]], "the failed straight COPY left rows behind")
        // After one conflict the next batch of new keys goes straight in again.
        try await sink.write(batch(Array(120..<150), "c"))
        #expect(try log() == [["COPY", "130"], ["INSERT", "30"]])
        // A key repeated in a batch of new keys: merged, the last record wins.
        try await sink.write([Self.record(#"{"id":200,"name":"first"}"#), Self.record(#"{"id":200,"name":"last"}"#)])
        #expect(try FlowPostgres.exec(url, "SELECT name FROM s WHERE id = 200") == [["last"]])
        #expect(try FlowPostgres.exec(url, "SELECT count(*), count(*) FILTER (WHERE name = 'b') FROM s") == [["151", "30"]])
        await sink.close()
    }
}
