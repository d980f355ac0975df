import Foundation
import NvisyPluginKit

/// The sink's fast path: `COPY`, straight into the table when the batch's keys are new, else
/// into a temporary staging table followed by one upsert into the table.
///
/// `COPY` is PostgreSQL's cheapest way in, but it cannot upsert. Most batches carry only new
/// keys (a first load, or the rows past a resumed run's first few), so the sink first COPYs
/// the batch straight into the table in its own transaction: the key's unique index refuses
/// the whole batch (23505) if a key exists, and nothing is written. Only then does the batch
/// take the merge path: the staging table (created once per connection, `ON COMMIT DELETE
/// ROWS` so it is empty at the start of every batch) takes the rows, and `INSERT … SELECT …
/// ON CONFLICT (key) DO UPDATE` makes the write idempotent. Either way a batch is written
/// whole or not at all, and writing it twice leaves the table as writing it once: the same
/// semantics as always merging, at the price of a plain COPY when there is nothing to merge.
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
        let columns = universe.indices.filter { config.columns != nil || rows.present[$0] }
        let cols = columns.map { quoteIdent(universe[$0]) }.joined(separator: ", ")
        if upsertBatchesLeft > 0 {
            upsertBatchesLeft -= 1
        } else if try copyStraight(rows, columns: columns, cols: cols) {
            conflictStreak = 0
            return true
        } else {
            // Keys already in the table (a resumed run, or new data for existing rows): merge
            // this batch, and skip the doomed straight COPY for the next few (1, 2, 4 … 64
            // batches while conflicts go on), so an update-heavy load pays little for trying.
            upsertBatchesLeft = (1 << min(conflictStreak, 6)) - 1
            conflictStreak += 1
        }
        try upsert(rows, universe: universe, columns: columns, cols: cols)
        return true
    }

    /// The common case, a batch of new keys: one `COPY` straight into the table, committed.
    /// False (nothing written) when a key is already in the table or repeated in the batch:
    /// the unique index refuses the whole COPY with 23505 and the caller merges instead.
    private func copyStraight(_ rows: CopyRows, columns: [Int], cols: String) throws -> Bool {
        var data: [UInt8] = []
        data.reserveCapacity(rows.buffer.count + rows.count * (columns.count + 1))
        for r in 0..<rows.count { rows.appendRow(r, columns: columns, to: &data) }
        do {
            try db.query("BEGIN")
            try db.copyIn("COPY \(table) (\(cols)) FROM STDIN", data: data)
            try db.query("COMMIT")
            return true
        } catch {
            let duplicate = db.lastErrorState == "23505"
            db.rollback()
            if duplicate { return false }
            throw error
        }
    }

    /// The merge: `COPY` into the staging table, then `INSERT … SELECT … ON CONFLICT DO UPDATE`.
    private func upsert(_ rows: CopyRows, universe: [String], columns: [Int], cols: String) throws {
        // One row per key, the last record with it (ON CONFLICT cannot touch a row twice).
        var last: [ArraySlice<UInt8>: Int] = [:]
        last.reserveCapacity(rows.count)
        var order: [Int] = []
        order.reserveCapacity(rows.count)
        for r in 0..<rows.count {
            let k = rows.key(of: r)!
            if last.updateValue(r, forKey: k) == nil { order.append(r) }
        }
        var data: [UInt8] = []
        data.reserveCapacity(rows.buffer.count + rows.count * (columns.count + 1))
        for first in order { rows.appendRow(last[rows.key(of: first)!]!, columns: columns, to: &data) }

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
