import Foundation

/// An incremental parser for `text/event-stream` (the WHATWG Server-Sent Events format).
///
/// Bytes are fed as they arrive from the network, in chunks that may split a line or even a
/// UTF-8 sequence anywhere; each complete event's `data` is returned as soon as its blank
/// line has been seen. Only the `data` field matters for OpenAI-style streams; `event`,
/// `id`, `retry` and comment lines are skipped.
struct SSEParser {
    /// Bytes of the line not yet terminated.
    private var line: [UInt8] = []
    /// `data` lines of the event being assembled.
    private var dataLines: [String] = []
    private var sawCR = false

    /// Feeds `chunk`; returns the data of every event it completed, in order.
    mutating func feed(_ chunk: Data) -> [String] {
        var events: [String] = []
        for byte in chunk {
            // A line ends at LF, CR or CRLF: after a CR, a directly following LF is skipped.
            if sawCR {
                sawCR = false
                if byte == 0x0A { continue }
            }
            if byte == 0x0A || byte == 0x0D {
                sawCR = byte == 0x0D
                if let event = endLine() { events.append(event) }
            } else {
                line.append(byte)
            }
        }
        return events
    }

    /// Ends the stream: an event not terminated by a blank line is dropped, as the spec says.
    mutating func finish() {
        line = []
        dataLines = []
    }

    private mutating func endLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard !dataLines.isEmpty else { return nil }
            defer { dataLines = [] }
            return dataLines.joined(separator: "\n")
        }
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix(":") { return nil }  // a comment (keep-alive)
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.hasPrefix(" ") { value = value.dropFirst() }
        } else {
            field = Substring(text)
            value = ""
        }
        if field == "data" { dataLines.append(String(value)) }
        return nil
    }
}
