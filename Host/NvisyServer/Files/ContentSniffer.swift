import Foundation

/// Guesses a MIME type from a file's first bytes and its name.
enum ContentSniffer {
    static let magic: [([UInt8], String)] = [
        (Array("%PDF-".utf8), "application/pdf"),
        ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "image/png"),
        ([0xFF, 0xD8, 0xFF], "image/jpeg"),
        (Array("GIF8".utf8), "image/gif"),
        ([0x1F, 0x8B], "application/gzip"),
        (Array("PK\u{3}\u{4}".utf8), "application/zip"),
        (Array("PAR1".utf8), "application/vnd.apache.parquet"),
    ]

    static let byExtension: [String: String] = [
        "csv": "text/csv", "tsv": "text/tab-separated-values", "txt": "text/plain", "md": "text/markdown",
        "json": "application/json", "jsonl": "application/x-ndjson", "ndjson": "application/x-ndjson",
        "html": "text/html", "htm": "text/html", "xml": "application/xml", "yaml": "application/yaml", "yml": "application/yaml",
        "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "zip": "application/zip", "gz": "application/gzip", "parquet": "application/vnd.apache.parquet",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]

    static func ext(_ name: String) -> String? {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        return name[name.index(after: dot)...].lowercased()
    }

    /// The type the bytes show: a binary signature, else text (refined by the extension), else nil.
    static func sniff(_ head: [UInt8], name: String) -> String? {
        for (prefix, type) in magic where head.starts(with: prefix) {
            if type == "application/zip", let e = ext(name), e == "docx" || e == "xlsx" { return byExtension[e] }
            return type
        }
        guard !head.isEmpty, !head.contains(0) else { return nil }
        // Text: valid UTF-8 (a multi-byte sequence may be cut at the end of the sample).
        var sample = head
        while !sample.isEmpty, String(validating: sample, as: UTF8.self) == nil, sample.count > head.count - 4 { sample.removeLast() }
        guard String(validating: sample, as: UTF8.self) != nil else { return nil }
        if let e = ext(name), let type = byExtension[e], type.hasPrefix("text/") || type.hasPrefix("application/json")
            || type.hasPrefix("application/x-ndjson") || type.hasPrefix("application/xml") || type.hasPrefix("application/yaml") {
            return type
        }
        let first = sample.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") { return "application/json" }
        return "text/plain"
    }

    /// What to serve: a recognised binary signature wins; then a declared type; then the
    /// sniffed text type or the extension; else application/octet-stream.
    static func choose(sniffed: String?, declared: String?, name: String) -> String {
        let declared = declared.flatMap { $0.isEmpty || $0.hasPrefix("application/octet-stream") ? nil : $0 }
        if let sniffed, !sniffed.hasPrefix("text/plain"), sniffed != "application/json" { return sniffed }
        if let declared { return declared }
        if let sniffed { return sniffed }
        return ext(name).flatMap { byExtension[$0] } ?? "application/octet-stream"
    }
}
