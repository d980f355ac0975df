/// Refuses the TOML inputs that make the bundled toml++ parser abort instead of reporting an error.
///
/// toml++ (inside TOMLKit 0.6) asserts, rather than checks, that a table header's key starts with
/// a bare-key character or a quote: `[[[1]]]`, `[[=`, `[ ]`… abort a debug build on a
/// `TOML_ASSERT_ASSUME` in `parse_key` and are undefined behaviour in a release build (fixed
/// upstream in marzer/tomlplusplus#301, not in the version we can resolve). Found by the parser
/// fuzz suite (Tests/NvisyServerTests/Fuzz). Every caller runs this before `TOMLTable(string:)`.
///
/// The same holds for a date-time whose `T` is not followed by a digit (`d = 1979-05-27T[`: an
/// assertion in `parse_time`) and for a `}` where an array expects a value (`x = [1, }`: an
/// assertion in `parse_value`).
///
/// The scan follows just enough TOML to find table headers and values: comments, the four string
/// forms, and bracket depth inside values (so a nested array that starts a line is not a header).
public enum TOMLPrecheck {
    /// A message naming the line of the first table header toml++ would not survive, or nil.
    public static func problem(in text: String) -> String? {
        let bytes = Array(text.utf8)
        var i = 0, line = 1
        // The brackets open inside the current value, innermost last.
        var open: [UInt8] = []
        var lineStart = true, inValue = false
        func at(_ k: Int) -> UInt8? { k < bytes.count ? bytes[k] : nil }
        func skipToLineEnd() { while let c = at(i), c != UInt8(ascii: "\n") { i += 1 } }
        while let c = at(i) {
            if c == UInt8(ascii: "\n") {
                line += 1
                lineStart = true
                if open.isEmpty { inValue = false }
                i += 1
                continue
            }
            if lineStart, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") {
                i += 1
                continue
            }
            if lineStart, open.isEmpty, c == UInt8(ascii: "[") {
                var j = i + 1
                if at(j) == UInt8(ascii: "[") { j += 1 }
                while let s = at(j), s == UInt8(ascii: " ") || s == UInt8(ascii: "\t") { j += 1 }
                guard let first = at(j), isKeyStart(first) else {
                    return "line \(line): a table header must start with a key (a bare key or a quoted one)"
                }
                // A header ends on its line; quoted keys inside it cannot span lines.
                skipToLineEnd()
                continue
            }
            lineStart = false
            switch c {
            case UInt8(ascii: "#"):
                skipToLineEnd()
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                if at(i + 1) == c, at(i + 2) == c {
                    // Multi-line string: to the closing triple quote (line count kept for messages).
                    i += 3
                    while let s = at(i), !(s == c && at(i + 1) == c && at(i + 2) == c) {
                        if s == UInt8(ascii: "\n") { line += 1 }
                        if c == UInt8(ascii: "\""), s == UInt8(ascii: "\\") { i += 1 }
                        i += 1
                    }
                    i += 3
                } else {
                    i += 1
                    while let s = at(i), s != c, s != UInt8(ascii: "\n") {
                        if c == UInt8(ascii: "\""), s == UInt8(ascii: "\\") { i += 1 }
                        i += 1
                    }
                    if at(i) == c { i += 1 }
                }
                continue
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                open.append(c)
            case UInt8(ascii: "}") where open.last == UInt8(ascii: "["):
                return "line \(line): '}' inside an array; an array holds values separated by commas and ends with ']'"
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                _ = open.popLast()
            case UInt8(ascii: "="):
                inValue = true
            case UInt8(ascii: "0")...UInt8(ascii: "9") where inValue && (i == 0 || !isBare(bytes[i - 1])):
                if isDate(bytes, at: i), let t = at(i + 10), t == UInt8(ascii: "T") || t == UInt8(ascii: "t"),
                   let next = at(i + 11), !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) {
                    return "line \(line): a date-time needs a time (HH:MM:SS) after its T"
                }
            default:
                break
            }
            i += 1
        }
        return nil
    }

    /// `YYYY-MM-DD` at `i`.
    static func isDate(_ bytes: [UInt8], at i: Int) -> Bool {
        guard i + 10 <= bytes.count else { return false }
        let digits = (UInt8(ascii: "0")...UInt8(ascii: "9"))
        return (0..<10).allSatisfy { k in k == 4 || k == 7 ? bytes[i + k] == UInt8(ascii: "-") : digits.contains(bytes[i + k]) }
    }

    /// A character of a bare key or number (a date inside one is not a date).
    static func isBare(_ c: UInt8) -> Bool { isKeyStart(c) && c != UInt8(ascii: "\"") && c != UInt8(ascii: "'") || c == UInt8(ascii: ".") }

    /// A-Z a-z 0-9 _ - (bare keys) or a quote (quoted keys).
    static func isKeyStart(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""), UInt8(ascii: "'"):
            true
        default:
            false
        }
    }
}
