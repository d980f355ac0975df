import Foundation
import NvisyPluginKit

/// `postgres/table`: records in and out of one table.
///
/// Source: keyset pagination on `key` (`WHERE key > $last ORDER BY key LIMIT n`); the
/// resume token is the last key (as text). Sink: one transaction per batch — a plain `COPY`
/// straight into the table when the batch's keys are new, else `COPY` into a temporary
/// staging table and `INSERT … SELECT … ON CONFLICT (key) DO UPDATE` from it (see
/// `CopyUpsert.swift`); batches with nested values go through `json_populate_recordset`
/// instead. Either way writing a batch twice leaves the table as writing it once, and a
/// failing batch writes nothing (the host then splits it to find the record at fault).
/// The key column needs a unique index.
public final class Table: SourceProvider, SinkProvider {
    public struct Config: Decodable, Sendable {
        var url: String
        var table: String
        var key: String
        var columns: [String]?
        var pageSize: Int?
    }

    public struct Credentials: Decodable, Sendable {
        var password: String?
    }

    public static let name = "table"
    public static let description = "Records in and out of a PostgreSQL table (keyset reads, idempotent upserts)."
    public static let dataType = DataType.record
    public static let configSchema = #"""
    {"type":"object","required":["url","table","key"],"additionalProperties":false,"properties":{
      "url":{"type":"string","pattern":"^postgres(ql)?://","description":"postgres://user@host:port/db (password in credentials)"},
      "table":{"type":"string","minLength":1,"description":"Table name, optionally schema.table."},
      "key":{"type":"string","minLength":1,"description":"Unique key column: reads are ordered by it, writes upsert on it."},
      "columns":{"type":"array","items":{"type":"string"},"minItems":1,"description":"Columns to read/write (default: all)."},
      "pageSize":{"type":"integer","minimum":1,"maximum":100000,"default":1000}}}
    """#
    public static let credentialsSchema: String? = #"""
    {"type":"object","additionalProperties":false,"properties":{"password":{"type":"string"}}}
    """#

    let config: Config
    let db: PGConnection
    private var tableColumns: [String]?
    /// The staging table of the COPY path: its name, columns and connection generation.
    var stage: (name: String, columns: [String], generation: Int)?
    /// Batches still to merge without first trying a straight COPY (after a key conflict).
    var upsertBatchesLeft = 0
    /// Consecutive batches whose straight COPY met an existing key.
    var conflictStreak = 0

    public init(config: Config, credentials: Credentials) throws {
        self.config = config
        db = PGConnection(url: config.url, password: credentials.password)
    }

    var table: String { quoteIdent(config.table) }
    var key: String { quoteIdent(config.key) }

    public func check(_ context: CallContext) throws {
        try db.query("SELECT \(key) FROM \(table) LIMIT 0")
    }

    // MARK: Source

    public func read(after resumeToken: Data?, context: CallContext) throws -> any ItemCursor {
        try check(context)
        let cols = config.columns.map { $0.map(quoteIdent).joined(separator: ", ") } ?? "*"
        let pageSize = config.pageSize ?? 1000
        var last = resumeToken.map { String(decoding: $0, as: UTF8.self) }
        var done = false
        let db = self.db, table = self.table, key = self.key
        return BatchClosureCursor { max, context in
            if done { return [] }
            try context.checkCancelled()
            let limit = Swift.min(max, pageSize)
            let inner = "SELECT \(cols) FROM \(table) \(last == nil ? "" : "WHERE \(key) > $1") ORDER BY \(key) LIMIT \(limit)"
            let rows = try db.query("SELECT row_to_json(s)::text, s.\(key)::text FROM (\(inner)) s", last.map { [$0] } ?? [])
            if rows.count < limit { done = true }
            return rows.map { row in
                let token = row[1] ?? ""
                last = token
                return Item(metadataJSON: Data((row[0] ?? "{}").utf8), resumeToken: Data(token.utf8))
            }
        }
    }

    // MARK: Sink

    public func write(_ items: [Item], context: CallContext) throws {
        guard !items.isEmpty else { return }
        try context.checkCancelled()
        if try writeByCopy(items) { return }
        try writeByJSON(items)
    }

    /// The general path: one `INSERT … SELECT FROM json_populate_recordset` per batch.
    private func writeByJSON(_ items: [Item]) throws {
        var records: [String: JSON] = [:]  // key value (as JSON text) -> last record with it
        var order: [String] = []
        var fields: Set<String> = []
        for item in items {
            guard case .object(let r) = item.metadata else { throw PluginError.permanent("a record to write is not a JSON object") }
            guard let k = r[config.key], k != .null else {
                throw PluginError.permanent("a record has no key field \"\(config.key)\"")
            }
            let id = String(decoding: k.serialized(), as: UTF8.self)
            if records[id] == nil { order.append(id) }
            records[id] = .object(r)
            fields.formUnion(r.keys)
        }
        let columns: [String]
        if let c = config.columns {
            columns = c.contains(config.key) ? c : [config.key] + c
        } else {
            let known = try columnsOfTable()
            let unknown = fields.subtracting(known)
            guard unknown.isEmpty else {
                throw PluginError.permanent(
                    "record field(s) \(unknown.sorted().joined(separator: ", ")) are not columns of \(config.table); add the columns or list the ones to write in `columns`")
            }
            columns = known.filter { fields.contains($0) }
        }
        let json = JSON.array(order.map { records[$0]! }).serialized()
        let cols = columns.map(quoteIdent).joined(separator: ", ")
        let updates = columns.filter { $0 != config.key }.map { "\(quoteIdent($0)) = EXCLUDED.\(quoteIdent($0))" }
        let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET \(updates.joined(separator: ", "))"
        try db.query("""
            INSERT INTO \(table) (\(cols)) SELECT \(cols) FROM json_populate_recordset(NULL::\(table), $1::json)
            ON CONFLICT (\(key)) \(conflict)
            """, [String(decoding: json, as: UTF8.self)])
    }

    func columnsOfTable() throws -> [String] {
        if let tableColumns { return tableColumns }
        let rows = try db.query("""
            SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
            """, [table])
        let cols = rows.compactMap { $0[0] }
        tableColumns = cols
        return cols
    }
}

/// A cursor whose closure gets the batch size and returns a batch (empty: the end).
final class BatchClosureCursor: ItemCursor {
    let produce: (Int, CallContext) throws -> [Item]
    init(_ produce: @escaping (Int, CallContext) throws -> [Item]) { self.produce = produce }
    func next(max: Int, context: CallContext) throws -> [Item] { try produce(max, context) }
}
