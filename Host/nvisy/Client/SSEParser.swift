/// An incremental Server-Sent Events parser (the WHATWG event-stream format): fed bytes as
/// they arrive, it answers each complete event. Comment lines (`: keep-alive`) are skipped.
struct SSEParser {
    /// One dispatched event.
    struct Event: Equatable {
        var name: String
        var data: String
    }

    var line: [UInt8] = []
    var name = ""
    var data: [String] = []
    var lastWasCR = false

    /// Feeds bytes; answers the events they completed.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            // A line ends at LF, CR or CRLF; the LF of a CRLF is not a second (empty) line.
            if byte == UInt8(ascii: "\n"), lastWasCR { lastWasCR = false; continue }
            lastWasCR = byte == UInt8(ascii: "\r")
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if let event = endLine() { events.append(event) }
            } else {
                line.append(byte)
            }
        }
        return events
    }

    mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            defer { name = ""; data = [] }
            guard !data.isEmpty else { return nil }
            return Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n"))
        }
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix(":") { return nil }
        let field: Substring, value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            var rest = text[text.index(after: colon)...]
            if rest.hasPrefix(" ") { rest = rest.dropFirst() }
            value = rest
        } else {
            field = text[...]
            value = ""
        }
        switch field {
        case "event": name = String(value)
        case "data": data.append(String(value))
        default: break
        }
        return nil
    }
}
