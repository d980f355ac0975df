import Foundation
import NvisyPluginKit

/// The sink's fast path: `COPY` into a temporary staging table, then one upsert into the table.
///
/// `COPY` is PostgreSQL's cheapest way in, but it cannot upsert; the staging table (created
/// once per connection, `ON COMMIT DELETE ROWS` so it is empty at the start of every batch)
/// takes the rows, and `INSERT … SELECT … ON CONFLICT (key) DO UPDATE` makes the write
/// idempotent. Both run in one transaction: a batch is written whole or not at all.
extension Table {
    /// Writes `items` through COPY; false when some record is not flat (the caller then uses
    /// the general path). Errors are the same as the general path's.
    func writeByCopy(_ items: [Item]) throws -> Bool {
        let universe: [String]
        if let c = config.columns { universe = c.contains(config.key) ? c : [config.key] + c } else { universe = try columnsOfTable() }
        guard universe.contains(config.key) else {
            throw PluginError.invalidConfig("postgres: the key \"\(config.key)\" is not a column of \(config.table)")
        }
        var rows = CopyRows(universe: universe, key: config.key)
        for item in items {
            guard rows.scan(item.metadataJSON) else { return false }
            guard rows.key(of: rows.count - 1) != nil else {
                throw PluginError.permanent("a record has no key field \"\(config.key)\"")
            }
        }
        if config.columns == nil, !rows.unknown.isEmpty {
            throw PluginError.permanent(
                "record field(s) \(rows.unknown.sorted().joined(separator: ", ")) are not columns of \(config.table); add the columns or list the ones to write in `columns`")
        }
        // One row per key, the last record with it (ON CONFLICT cannot touch a row twice).
        var last: [ArraySlice<UInt8>: Int] = [:]
        last.reserveCapacity(rows.count)
        var order: [Int] = []
        order.reserveCapacity(rows.count)
        for r in 0..<rows.count {
            let k = rows.key(of: r)!
            if last.updateValue(r, forKey: k) == nil { order.append(r) }
        }
        let columns = universe.indices.filter { config.columns != nil || rows.present[$0] }
        var data: [UInt8] = []
        data.reserveCapacity(rows.buffer.count + rows.count * (columns.count + 1))
        for first in order { rows.appendRow(last[rows.key(of: first)!]!, columns: columns, to: &data) }

        let cols = columns.map { quoteIdent(universe[$0]) }.joined(separator: ", ")
        let updates = columns.filter { $0 != rows.keyIndex }.map { "\(quoteIdent(universe[$0])) = EXCLUDED.\(quoteIdent(universe[$0]))" }
        let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET \(updates.joined(separator: ", "))"
        do {
            try db.query("BEGIN")  // connects first if needed, so the stage check sees the live connection
            let stage = try stageTable(universe)
            try db.copyIn("COPY \(stage) (\(cols)) FROM STDIN", data: data)
            try db.query("INSERT INTO \(table) (\(cols)) SELECT \(cols) FROM \(stage) ON CONFLICT (\(key)) \(conflict)")
            try db.query("COMMIT")
        } catch {
            db.rollback()
            stage = nil  // a stage created in this transaction is gone with it
            throw error
        }
        return true
    }

    /// The staging table for `universe` on the current connection, created when missing (inside
    /// the batch's transaction).
    private func stageTable(_ universe: [String]) throws -> String {
        if let s = stage, s.generation == db.generation, s.columns == universe { return s.name }
        let name = "pg_temp.nvisy_stage"
        let cols = universe.map(quoteIdent).joined(separator: ", ")
        try db.query("DROP TABLE IF EXISTS \(name)")
        // Same column types as the table, none of its constraints: those are checked by the INSERT.
        try db.query("CREATE TEMP TABLE \(name) ON COMMIT DELETE ROWS AS SELECT \(cols) FROM \(table) WITH NO DATA")
        stage = (name, universe, db.generation)
        return name
    }
}
