import CLibPQ
import Foundation
import NvisyPluginKit

/// One libpq connection (blocking; the host runs provider calls off its event loops).
final class PGConnection {
    private var conn: OpaquePointer?
    let url: String
    let password: String?
    /// Bumped on every new server connection: session state (temporary tables) is per connection.
    private(set) var generation = 0
    /// The SQLSTATE of the last statement that failed ("" if none was given), so a caller can
    /// tell a duplicate key (23505) from other refusals.
    private(set) var lastErrorState = ""

    init(url: String, password: String?) {
        self.url = url
        self.password = password
    }

    deinit { if let conn { PQfinish(conn) } }

    private func connect() throws -> OpaquePointer {
        if let conn, PQstatus(conn) == CONNECTION_OK { return conn }
        if let conn { PQfinish(conn); self.conn = nil }
        var keys: [String] = ["dbname", "connect_timeout", "application_name"]
        var values: [String] = [url, "10", "nvisy-postgres-plugin"]
        if let password { keys.append("password"); values.append(password) }
        let c = withCStrings(keys) { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let c else { throw PluginError.transient("postgres: out of memory while connecting") }
        guard PQstatus(c) == CONNECTION_OK else {
            let msg = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(c)
            let auth = msg.contains("password authentication failed") || msg.contains("no password supplied")
            throw auth ? PluginError.unauthorized("postgres: \(msg)") : PluginError.transient("postgres: cannot connect: \(msg)")
        }
        // NOTICEs (e.g. "table does not exist, skipping") would go to the host's stderr.
        PQsetNoticeProcessor(c, { _, _ in }, nil)
        conn = c
        generation += 1
        return c
    }

    /// Runs `sql` with text parameters; returns the rows as text (nil = SQL NULL).
    @discardableResult
    func query(_ sql: String, _ params: [String?] = []) throws -> [[String?]] {
        lastErrorState = ""
        let c = try connect()
        let res: OpaquePointer? = sql.withCString { s in
            withOptionalCStrings(params) { p in PQexecParams(c, s, Int32(params.count), nil, p, nil, nil, 0) }
        }
        guard let res else {
            throw PluginError.transient("postgres: \(String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        defer { PQclear(res) }
        let status = PQresultStatus(res)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let msg = String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = PQresultErrorField(res, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
            lastErrorState = state
            throw PGConnection.classify(state: state, message: msg)
        }
        var rows: [[String?]] = []
        let n = PQntuples(res), m = PQnfields(res)
        rows.reserveCapacity(Int(n))
        for r in 0..<n {
            var row: [String?] = []
            for f in 0..<m {
                row.append(PQgetisnull(res, r, f) == 1 ? nil : String(cString: PQgetvalue(res, r, f)))
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs `COPY … FROM STDIN` (text format) with `data` as its rows.
    func copyIn(_ sql: String, data: [UInt8]) throws {
        try beginCopy(sql)
        var sent = true
        do { try putCopyData(data) } catch { sent = false }
        try endCopy(failing: sent ? nil : "client could not send the rows")
    }

    /// Starts `COPY … FROM STDIN`: then ``putCopyData(_:)`` any number of times and
    /// ``endCopy(failing:)`` once, whatever happens in between.
    func beginCopy(_ sql: String) throws {
        lastErrorState = ""
        let c = try connect()
        guard let start = PQexec(c, sql) else {
            throw PluginError.transient("postgres: \(String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        defer { PQclear(start) }
        guard PQresultStatus(start) == PGRES_COPY_IN else { throw failed(start) }
    }

    /// Sends rows of a COPY under way (COPY text format). The server parses them as they
    /// arrive, so a caller sending in pieces overlaps its own work with the server's.
    func putCopyData(_ data: [UInt8]) throws {
        guard let c = conn else { throw PluginError.transient("postgres: the connection closed during COPY") }
        // Feed in pieces: libpq buffers each call, and one huge call would double the memory.
        let sent = data.withUnsafeBufferPointer { buf -> Bool in
            var offset = 0
            while offset < buf.count {
                let n = min(1 << 18, buf.count - offset)
                let ok = buf.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: n) { PQputCopyData(c, $0, Int32(n)) } == 1
                guard ok else { return false }
                offset += n
            }
            return true
        }
        guard sent else {
            throw PluginError.transient("postgres: could not send rows: \(String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Ends the COPY under way: commits its rows (in autocommit, the COPY is its own
    /// transaction) or, with `failing`, makes the server abandon it. Throws the server's
    /// error (its SQLSTATE in ``lastErrorState``) unless it was told to fail.
    func endCopy(failing reason: String? = nil) throws {
        guard let c = conn else { throw PluginError.transient("postgres: the connection closed during COPY") }
        _ = PQputCopyEnd(c, reason)
        var failure: PluginError?
        while let res = PQgetResult(c) {
            if failure == nil, PQresultStatus(res) != PGRES_COMMAND_OK { failure = failed(res) }
            PQclear(res)
        }
        if let failure, reason == nil { throw failure }
    }

    /// Whether a COPY … FROM STDIN is under way on the connection.
    var isCopying: Bool {
        guard let conn else { return false }
        return PQtransactionStatus(conn) == PQTRANS_ACTIVE
    }

    /// Rolls back an open or failed transaction (nothing if none); errors are ignored, a broken
    /// connection is reopened on next use.
    func rollback() {
        guard let conn, PQtransactionStatus(conn) != PQTRANS_IDLE else { return }
        if let res = PQexec(conn, "ROLLBACK") { PQclear(res) }
    }

    /// The error of a failed result; remembers its SQLSTATE in ``lastErrorState``.
    private func failed(_ res: OpaquePointer) -> PluginError {
        let msg = String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines)
        let state = PQresultErrorField(res, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        lastErrorState = state
        return Self.classify(state: state, message: msg)
    }

    static func classify(state: String, message: String) -> PluginError {
        let text = "postgres: \(message)\(state.isEmpty ? "" : " (SQLSTATE \(state))")"
        switch state.prefix(2) {
        case "08", "53", "57": return .transient(text)
        case "40": return .transient(text)
        case "28": return .unauthorized(text)
        case "42", "22": return .invalidConfig(text)
        default: return .permanent(text)
        }
    }
}

/// A double-quoted identifier; `schema.table` is quoted part by part.
func quoteIdent(_ name: String) -> String {
    name.split(separator: ".", omittingEmptySubsequences: false)
        .map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        .joined(separator: ".")
}

func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let dup = strings.map { strdup($0) }
    defer { dup.forEach { free($0) } }
    var ptrs: [UnsafePointer<CChar>?] = dup.map { UnsafePointer($0) }
    ptrs.append(nil)
    return ptrs.withUnsafeBufferPointer { body($0.baseAddress!) }
}

func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let dup = strings.map { $0.map { strdup($0) } ?? nil }
    defer { dup.forEach { free($0) } }
    let ptrs: [UnsafePointer<CChar>?] = dup.map { $0.map { UnsafePointer($0) } }
    return ptrs.withUnsafeBufferPointer { body($0.baseAddress) }
}
