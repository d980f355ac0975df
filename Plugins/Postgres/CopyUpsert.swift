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
        var tryStraight = upsertBatchesLeft == 0
        if !tryStraight { upsertBatchesLeft -= 1 }
        if tryStraight {
            switch try streamStraight(items, universe: universe) {
            case .written:
                conflictStreak = 0
                return true
            case .notFlat: return false
            case .conflict: noteConflict()
            case .fieldsVary: break  // scanned whole below, then tried straight again
            }
            tryStraight = conflictStreak == 0
        }
        var rows = CopyRows(universe: universe, key: config.key)
        for item in items {
            guard rows.scan(item.metadataJSON) else { return false }
            guard rows.key(of: rows.count - 1) != nil else { throw missingKey }
        }
        if config.columns == nil, !rows.unknown.isEmpty { throw unknownFields(rows.unknown) }
        let columns = universe.indices.filter { config.columns != nil || rows.present[$0] }
        let cols = columns.map { quoteIdent(universe[$0]) }.joined(separator: ", ")
        if tryStraight {
            if try copyStraight(rows, columns: columns, cols: cols) {
                conflictStreak = 0
                return true
            }
            noteConflict()
        }
        try upsert(rows, universe: universe, columns: columns, cols: cols)
        return true
    }

    private var missingKey: PluginError { PluginError.permanent("a record has no key field \"\(config.key)\"") }

    private func unknownFields(_ unknown: Set<String>) -> PluginError {
        PluginError.permanent(
            "record field(s) \(unknown.sorted().joined(separator: ", ")) are not columns of \(config.table); add the columns or list the ones to write in `columns`")
    }

    /// Keys already in the table (a resumed run, or new data for existing rows): this batch is
    /// merged, and the next few (1, 2, 4 … 64 batches while conflicts go on) skip the doomed
    /// straight COPY, so an update-heavy load pays little for trying.
    private func noteConflict() {
        upsertBatchesLeft = (1 << min(conflictStreak, 6)) - 1
        conflictStreak += 1
    }

    enum StraightOutcome {
        case written, conflict, notFlat, fieldsVary
    }

    /// The common case, a batch of new keys: one `COPY` straight into the table, in a
    /// transaction opened in the same round trip (`BEGIN; COPY …`). The records are scanned
    /// and sent 4096 at a time, so the server parses one piece while the next is scanned. The
    /// COMMIT is a statement of its own, sent only once the COPY succeeded: a sink killed while
    /// the server still works through the rows it was sent leaves them uncommitted (a COPY in
    /// autocommit would commit them with nobody to acknowledge them).
    /// The column list is fixed by the first piece: should a later record name a column the
    /// first piece did not (`.fieldsVary`), the COPY is abandoned and the caller scans the whole
    /// batch first. A key already in the table or repeated in the batch makes the unique
    /// index refuse the whole COPY (23505, `.conflict`); nothing is written then either.
    private func streamStraight(_ items: [Item], universe: [String]) throws -> StraightOutcome {
        var rows = CopyRows(universe: universe, key: config.key)
        var columns: [Int]?
        var data: [UInt8] = []
        var copying = false
        do {
            var start = items.startIndex
            while start < items.endIndex {
                let end = min(items.endIndex, start + 4096)
                rows.clearRecords()
                for item in items[start..<end] {
                    guard rows.scan(item.metadataJSON) else {
                        if copying { try? db.endCopy(failing: "a record is not flat") }
                        db.rollback()
                        return .notFlat
                    }
                    guard rows.key(of: rows.count - 1) != nil else { throw missingKey }
                }
                if config.columns == nil, !rows.unknown.isEmpty { throw unknownFields(rows.unknown) }
                let now = universe.indices.filter { config.columns != nil || rows.present[$0] }
                if let columns {
                    guard now == columns else {
                        try? db.endCopy(failing: "the records name different fields")
                        db.rollback()
                        return .fieldsVary
                    }
                } else {
                    columns = now
                    copying = true
                    try db.beginCopy("BEGIN; COPY \(table) (\(now.map { quoteIdent(universe[$0]) }.joined(separator: ", "))) FROM STDIN")
                }
                data.removeAll(keepingCapacity: true)
                for r in 0..<rows.count { rows.appendRow(r, columns: now, to: &data) }
                try db.putCopyData(data)
                start = end
            }
        } catch {
            if copying, db.isCopying { try? db.endCopy(failing: "the batch was refused") }
            db.rollback()
            throw error
        }
        guard copying else { return .written }  // no items
        do {
            try db.endCopy()
            try db.query("COMMIT")
        } catch {
            let state = db.lastErrorState
            db.rollback()
            if state == "23505" { return .conflict }
            throw error
        }
        return .written
    }

    /// A batch whose records name different fields, scanned whole: one `COPY` straight into
    /// the table (autocommit); false (nothing written) on a key conflict (23505).
    private func copyStraight(_ rows: CopyRows, columns: [Int], cols: String) throws -> Bool {
        var data: [UInt8] = []
        data.reserveCapacity(rows.buffer.count + rows.count * (columns.count + 1))
        for r in 0..<rows.count { rows.appendRow(r, columns: columns, to: &data) }
        do {
            try db.copyIn("COPY \(table) (\(cols)) FROM STDIN", data: data)
            return true
        } catch {
            if db.lastErrorState == "23505" { return false }
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
