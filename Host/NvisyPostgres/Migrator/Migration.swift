import NvisyCore

/// One schema change: a `.sql` file in this folder, embedded in the binary at build time.
public struct Migration: Sendable, Equatable {
    /// The number that orders migrations (the file name's leading digits).
    public var version: Int
    /// The file name without its number and extension.
    public var name: String
    /// The SQL text, one or more statements.
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    init(version: Int, name: String, bytes: [UInt8]) {
        self.init(version: version, name: name, sql: String(decoding: bytes, as: UTF8.self))
    }

    /// SHA-256 of the SQL text: an applied migration whose file later changes is refused.
    public var checksum: String { Checksum.sha256Hex(sql.utf8) }

    /// `0001_extensions`, as in the file name.
    public var identifier: String {
        let number = String(version)
        return String(repeating: "0", count: max(0, 4 - number.count)) + number + "_" + name
    }
}
