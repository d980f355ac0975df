import Foundation

/// A coarse kind of file, for switch cases that route by "what is this": from the MIME type
/// (`/contentType`) when it says enough, else from the extension of `/path`.
public enum FileCategory: String, Sendable, CaseIterable {
    case document, text, spreadsheet, presentation, image, audio, video, archive, code, data, other

    static let byExtension: [String: FileCategory] = {
        var map: [String: FileCategory] = [:]
        let table: [(FileCategory, [String])] = [
            (.document, ["pdf", "doc", "docx", "odt", "rtf", "epub", "pages"]),
            (.text, ["txt", "md", "markdown", "rst", "html", "htm", "log"]),
            (.spreadsheet, ["csv", "tsv", "xls", "xlsx", "ods", "numbers"]),
            (.presentation, ["ppt", "pptx", "odp", "key"]),
            (.image, ["png", "jpg", "jpeg", "gif", "webp", "tif", "tiff", "bmp", "svg", "heic"]),
            (.audio, ["mp3", "wav", "flac", "ogg", "m4a", "aac"]),
            (.video, ["mp4", "mov", "mkv", "webm", "avi"]),
            (.archive, ["zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar"]),
            (.code, ["swift", "py", "js", "ts", "go", "rs", "java", "kt", "c", "h", "cpp", "hpp", "cs", "rb", "php", "sh", "sql"]),
            (.data, ["json", "jsonl", "ndjson", "xml", "yaml", "yml", "toml", "parquet", "avro"]),
        ]
        for (category, extensions) in table { for e in extensions { map[e] = category } }
        return map
    }()

    static let byMIME: [String: FileCategory] = [
        "application/pdf": .document, "application/msword": .document, "application/rtf": .document, "application/epub+zip": .document,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": .document,
        "application/vnd.oasis.opendocument.text": .document,
        "text/csv": .spreadsheet, "text/tab-separated-values": .spreadsheet, "application/vnd.ms-excel": .spreadsheet,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": .spreadsheet,
        "application/vnd.ms-powerpoint": .presentation,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation": .presentation,
        "application/zip": .archive, "application/gzip": .archive, "application/x-tar": .archive, "application/x-7z-compressed": .archive,
        "application/json": .data, "application/x-ndjson": .data, "application/xml": .data, "application/yaml": .data,
    ]

    /// The category of an item from its metadata (`contentType`, `path`, `name`).
    public static func of(contentType: String?, path: String?) -> FileCategory {
        let mime = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let mime, let c = byMIME[mime] { return c }
        if let path, let dot = path.lastIndex(of: "."), !path[dot...].contains("/"),
           let c = byExtension[path[path.index(after: dot)...].lowercased()] { return c }
        if let mime {
            if mime.hasPrefix("image/") { return .image }
            if mime.hasPrefix("audio/") { return .audio }
            if mime.hasPrefix("video/") { return .video }
            if mime.hasPrefix("text/") { return .text }
        }
        return .other
    }
}
