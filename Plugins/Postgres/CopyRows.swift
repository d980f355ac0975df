import Foundation

/// A batch of flat JSON records turned into PostgreSQL `COPY … FROM STDIN` text-format rows.
///
/// Records arrive as UTF-8 JSON text; parsing each into a `JSON` tree and serializing it again
/// (the `json_populate_recordset` path) cost more than the database's own work. This scanner
/// reads a flat object (`{"k": scalar, …}`) once and writes each value straight into one buffer,
/// already in COPY text escaping. Anything it does not handle — a nested object or array, text
/// that is not a JSON object — makes ``scan(_:)`` answer `false`, and the caller uses the
/// general path for the batch, so the semantics never depend on which path ran.
struct CopyRows {
    /// The columns a field may name (the table's, or the configured ones), in table order.
    let universe: [String]
    private let universeBytes: [[UInt8]]
    let keyIndex: Int

    /// COPY-escaped value bytes of every scanned record.
    private(set) var buffer: [UInt8] = []
    /// Per record, per universe column: the value's range in `buffer`; `start < 0` is NULL/absent.
    private var ranges: [(start: Int32, end: Int32)] = []
    /// Which universe columns some record named.
    private(set) var present: [Bool]
    /// Field names not in the universe (an error unless columns were configured).
    private(set) var unknown: Set<String> = []
    private(set) var count = 0

    init(universe: [String], key: String) {
        self.universe = universe
        universeBytes = universe.map { Array($0.utf8) }
        keyIndex = universe.firstIndex(of: key) ?? 0
        present = Array(repeating: false, count: universe.count)
    }

    /// Forgets the records scanned so far (keeping which columns and unknown fields were
    /// seen), so a long batch can be scanned and sent a piece at a time in one buffer.
    mutating func clearRecords() {
        buffer.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
        count = 0
    }

    /// The record's key value, COPY-escaped (nil: absent or JSON null).
    func key(of record: Int) -> ArraySlice<UInt8>? {
        let r = ranges[record * universe.count + keyIndex]
        return r.start < 0 ? nil : buffer[Int(r.start)..<Int(r.end)]
    }

    /// Appends record `record`'s row for `columns` (universe indexes) to `out`.
    func appendRow(_ record: Int, columns: [Int], to out: inout [UInt8]) {
        for (i, c) in columns.enumerated() {
            if i > 0 { out.append(0x09) }
            let r = ranges[record * universe.count + c]
            if r.start < 0 { out.append(contentsOf: [0x5C, 0x4E]) }  // \N
            else { out.append(contentsOf: buffer[Int(r.start)..<Int(r.end)]) }
        }
        out.append(0x0A)
    }

    /// Scans one record; false when it is not a flat JSON object of scalars (nothing kept then).
    mutating func scan(_ json: Data) -> Bool {
        let mark = (buffer.count, ranges.count)
        ranges.append(contentsOf: repeatElement((start: Int32(-1), end: Int32(-1)), count: universe.count))
        let ok = json.withUnsafeBytes { raw -> Bool in
            var p = Scanner(bytes: raw.bindMemory(to: UInt8.self))
            return scanObject(&p, base: mark.1)
        }
        if ok { count += 1 } else {
            buffer.removeSubrange(mark.0...)
            ranges.removeSubrange(mark.1...)
        }
        return ok
    }

    private mutating func scanObject(_ p: inout Scanner, base: Int) -> Bool {
        p.skipSpace()
        guard p.take(0x7B) else { return false }  // {
        p.skipSpace()
        if p.take(0x7D) { return p.atEndAfterSpace() }
        var name: [UInt8] = []
        while true {
            p.skipSpace()
            name.removeAll(keepingCapacity: true)
            guard p.peek == 0x22, p.string(into: &name, copyEscape: false) else { return false }
            p.skipSpace()
            guard p.take(0x3A) else { return false }  // :
            p.skipSpace()
            let column = universeBytes.firstIndex(of: name)
            let start = buffer.count
            guard let c = p.peek else { return false }
            var isNull = false
            switch c {
            case 0x22: guard p.string(into: &buffer, copyEscape: true) else { return false }
            case 0x6E: guard p.literal("null") else { return false }; isNull = true
            case 0x74: guard p.literal("true") else { return false }; buffer.append(contentsOf: "true".utf8)
            case 0x66: guard p.literal("false") else { return false }; buffer.append(contentsOf: "false".utf8)
            case 0x2D, 0x30...0x39: guard p.number(into: &buffer) else { return false }
            default: return false  // object, array, or not JSON: the general path decides
            }
            if let column {
                present[column] = true
                // A repeated field: the last one wins, as in a JSON parser.
                ranges[base + column] = isNull ? (-1, -1) : (Int32(start), Int32(buffer.count))
            } else {
                unknown.insert(String(decoding: name, as: UTF8.self))
                buffer.removeSubrange(start...)
            }
            p.skipSpace()
            if p.take(0x2C) { continue }  // ,
            guard p.take(0x7D) else { return false }
            return p.atEndAfterSpace()
        }
    }
}

/// A cursor over JSON text bytes.
private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0

    var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    mutating func take(_ b: UInt8) -> Bool {
        guard pos < bytes.count, bytes[pos] == b else { return false }
        pos += 1
        return true
    }

    mutating func skipSpace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 { pos += 1 }
    }

    mutating func atEndAfterSpace() -> Bool {
        skipSpace()
        return pos == bytes.count
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard pos + n <= bytes.count else { return false }
        for i in 0..<n where bytes[pos + i] != word.utf8Start[i] { return false }
        pos += n
        return true
    }

    /// A JSON number, copied as is (PostgreSQL parses it for the column's type).
    mutating func number(into out: inout [UInt8]) -> Bool {
        let start = pos
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x30...0x39, 0x2D, 0x2B, 0x2E, 0x65, 0x45: pos += 1
            default: out.append(contentsOf: bytes[start..<pos]); return pos > start
            }
        }
        out.append(contentsOf: bytes[start..<pos])
        return pos > start
    }

    /// A JSON string, unescaped into `out`; with `copyEscape`, also escaped for COPY text
    /// format (backslash, tab, newline, carriage return).
    mutating func string(into out: inout [UInt8], copyEscape: Bool) -> Bool {
        guard take(0x22) else { return false }
        while pos < bytes.count {
            let b = bytes[pos]
            pos += 1
            switch b {
            case 0x22: return true
            case 0x5C:
                guard pos < bytes.count else { return false }
                let e = bytes[pos]
                pos += 1
                switch e {
                case 0x22: out.append(0x22)
                case 0x5C: copyEscape ? out.append(contentsOf: [0x5C, 0x5C]) : out.append(0x5C)
                case 0x2F: out.append(0x2F)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: copyEscape ? out.append(contentsOf: [0x5C, 0x6E]) : out.append(0x0A)
                case 0x72: copyEscape ? out.append(contentsOf: [0x5C, 0x72]) : out.append(0x0D)
                case 0x74: copyEscape ? out.append(contentsOf: [0x5C, 0x74]) : out.append(0x09)
                case 0x75:
                    guard var scalar = hex4() else { return false }
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard take(0x5C), take(0x75), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return false }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    // NUL cannot be stored in text: leave the batch to the general path's error.
                    guard scalar != 0, let u = Unicode.Scalar(scalar) else { return false }
                    if copyEscape, scalar == 0x0A || scalar == 0x0D || scalar == 0x09 || scalar == 0x5C {
                        out.append(0x5C)
                        out.append(scalar == 0x0A ? 0x6E : scalar == 0x0D ? 0x72 : scalar == 0x09 ? 0x74 : 0x5C)
                    } else {
                        out.append(contentsOf: UTF8.encode(u)!)
                    }
                default: return false
                }
            case 0x0A where copyEscape: out.append(contentsOf: [0x5C, 0x6E])  // raw control characters are not valid JSON,
            case 0x0D where copyEscape: out.append(contentsOf: [0x5C, 0x72])  // but never let one break a COPY row
            case 0x09 where copyEscape: out.append(contentsOf: [0x5C, 0x74])
            default: out.append(b)
            }
        }
        return false
    }

    private mutating func hex4() -> UInt32? {
        guard pos + 4 <= bytes.count else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            pos += 1
            switch b {
            case 0x30...0x39: v = v << 4 | UInt32(b - 0x30)
            case 0x41...0x46: v = v << 4 | UInt32(b - 0x41 + 10)
            case 0x61...0x66: v = v << 4 | UInt32(b - 0x61 + 10)
            default: return nil
            }
        }
        return v
    }
}
