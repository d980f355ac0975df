import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NvisyCore
import NvisyPostgres

/// The two file routes that stream, written by hand because they need the raw body and full
/// control of the answer's headers. They are in openapi.yaml too (documented, and in the
/// authorization matrix); ``APIRoutes`` leaves them out of the generated registration.
///
/// - `POST /api/v1/workspaces/{workspaceId}/files?name=&tags=`: the body is the file, or a
///   `multipart/form-data` form with fields `name`, `tags` and then a `file` part (not buffered,
///   not bound by `max_body_bytes`: by `max_file_bytes` and the workspace quota).
/// - `GET /api/v1/files/{fileId}/content`: Content-Type, Content-Length, ETag (the SHA-256),
///   Accept-Ranges, one `Range: bytes=…` (206 / 416), `If-None-Match` (304).
struct FilesController {
    let api: APIDependencies

    /// The spec operations this controller serves (skipped by the generated registration).
    static let operations: Set<String> = [
        "POST /api/v1/workspaces/{workspaceId}/files",
        "GET /api/v1/files/{fileId}/content",
    ]

    /// Whether a request is one of the streaming routes (no body buffering, no request timeout).
    static func isStreaming(_ request: Request) -> Bool {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 5, parts[0] == "api", parts[1] == "v1" else { return false }
        if request.method == .post, parts[2] == "workspaces", parts[4] == "files" { return true }
        if request.method == .get || request.method == .head, parts[2] == "files", parts[4] == "content" { return true }
        return false
    }

    func addRoutes(to router: Router<NvisyRequestContext>) {
        router.post("/api/v1/workspaces/:workspaceId/files") { request, context in try await upload(request, context) }
        router.get("/api/v1/files/:fileId/content") { request, context in try await download(request, context) }
    }

    func store() throws(NvisyError) -> FileStore {
        guard let store = api.fileStore else { throw NvisyError.unavailable("files are not available on this host (no object store)") }
        return store
    }

    func upload(_ request: Request, _ context: NvisyRequestContext) async throws -> Response {
        let workspaceID = try pathID(context.parameters.get("workspaceId") ?? "", "workspaceId")
        let me = try context.requireSignedIn()
        try await context.require(.editContent, in: workspaceID)
        let store = try store()
        let query = request.uri.queryParameters
        let queryName = query["name"].map(String.init)
        let queryTags = Self.tags(query["tags"].map(String.init))
        let contentType = request.headers[.contentType]
        let file: FileRecord
        if let contentType, contentType.lowercased().hasPrefix("multipart/") {
            // The form's fields come first; the file part's bytes then stream into the store.
            let reader = try MultipartFormReader.make(body: request.body, contentType: contentType)
            var fieldName: String?
            var fieldTags: [String] = []
            var filePart: MultipartFormReader<RequestBody>.Part?
            parts: while let part = try await reader.nextPart() {
                switch part.name {
                case "file":
                    filePart = part
                    break parts
                case "name": fieldName = try await reader.text(max: 1024, field: "name")
                case "tags": fieldTags += Self.tags(try await reader.text(max: 4096, field: "tags"))
                default:
                    throw MultipartFormReader<RequestBody>.bad("unknown field \(part.name.prefix(100).debugDescription): the form takes name, tags and file")
                }
            }
            guard let filePart else { throw MultipartFormReader<RequestBody>.bad("the form has no part named file") }
            let rawName = queryName ?? fieldName ?? filePart.filename
            let (name, tags) = try Self.validate(rawName, queryTags + fieldTags,
                                                 missing: "is required: pass ?name=, a name field, or a filename in the file part")
            if let type = filePart.contentType, Self.hasControl(type) || type.count > 255 {
                throw NvisyError.invalidInput("the file part's Content-Type must be a media type without control characters", pointer: "/file")
            }
            let upload = FileStore.Upload(workspaceID: workspaceID, name: name, declaredType: filePart.contentType, tags: tags,
                                          createdBy: me.accountID, declaredSize: nil)
            file = try await store.upload(upload, body: MultipartFileBody(reader: reader, partName: "file"),
                                          maxBytes: api.settings.maxFileBytes, quota: api.settings.workspaceQuotaBytes)
        } else {
            let rawName = queryName ?? Self.filename(request.headers[.contentDisposition])
            let (name, tags) = try Self.validate(rawName, queryTags, missing: "is required: pass ?name= or a Content-Disposition filename")
            let upload = FileStore.Upload(workspaceID: workspaceID, name: name, declaredType: contentType, tags: tags,
                                          createdBy: me.accountID, declaredSize: request.headers[.contentLength].flatMap(Int64.init))
            file = try await store.upload(upload, body: request.body, maxBytes: api.settings.maxFileBytes, quota: api.settings.workspaceQuotaBytes)
        }
        await api.fileUploadTrigger?.fileUploaded(file, logger: context.logger)
        await api.knowledgeBase?.fileUploaded(file, logger: context.logger)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.location] = "/api/v1/files/\(file.id.text)"
        let data = try JSONEncoder.api.encode(Components.Schemas.File(file))
        return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Whether `text` has a control character (NUL, newline, DEL...), which no name, tag or type may hold.
    static func hasControl(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// Comma-separated tags, trimmed, empty ones dropped.
    static func tags(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The file's name (required, no `/` or NUL, at most 255 characters) and its distinct sorted tags.
    static func validate(_ rawName: String?, _ tags: [String], missing: String) throws(NvisyError) -> (String, [String]) {
        var check = Validation()
        let name = check.text(rawName, at: "/name", max: 255)
        if rawName == nil { check.fail("/name", missing) }
        if let name, name.contains("/") || Self.hasControl(name) { check.fail("/name", "must not contain / or control characters") }
        let unique = Array(Set(tags)).sorted()
        if unique.count > 50 || unique.contains(where: { $0.count > 100 }) { check.fail("/tags", "at most 50 tags of at most 100 characters") }
        if unique.contains(where: Self.hasControl) { check.fail("/tags", "must not contain control characters") }
        try check.check()
        return (name ?? "", unique)
    }

    func download(_ request: Request, _ context: NvisyRequestContext) async throws -> Response {
        let id = try pathID(context.parameters.get("fileId") ?? "", "fileId")
        _ = try context.requireSignedIn()
        guard let file = try await api.files.find(id: id) else { throw NvisyError.notFound("no file \(id.text)") }
        try await context.require(.view, in: file.workspaceID)
        let store = try store()
        let etag = "\"\(file.sha256 ?? "")\""
        var headers = HTTPFields()
        headers[.eTag] = etag
        headers[.acceptRanges] = "bytes"
        headers[.cacheControl] = "private, no-cache"
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag || $0 == "*" }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.contentType
        headers[.contentDisposition] = "attachment; filename=\"\(file.name.replacingOccurrences(of: "\"", with: "_"))\""
        var range = 0..<file.size
        var status = HTTPResponse.Status.ok
        if let header = request.headers[.range], request.headers[.ifRange].map({ $0 == etag }) ?? true {
            guard let parsed = Self.parseRange(header, size: file.size) else {
                var problem = HTTPFields()
                problem[.contentRange] = "bytes */\(file.size)"
                throw HTTPError(.rangeNotSatisfiable, headers: problem, message: "the range \(header) is not within the file's \(file.size) bytes")
            }
            range = parsed
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(file.size)"
        }
        let length = Int(range.count)
        if request.method == .head || length == 0 {
            headers[.contentLength] = String(length)
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer()))
        }
        let reader = try await store.objects.get(file.objectKey)
        let wanted = range
        let body = ResponseBody(contentLength: length) { writer in
            var position: Int64 = 0
            for try await chunk in reader {
                let start = position, end = position + Int64(chunk.count)
                position = end
                if end <= wanted.lowerBound { continue }
                let from = Int(max(wanted.lowerBound, start) - start), to = Int(min(wanted.upperBound, end) - start)
                if from < to { try await writer.write(ByteBuffer(bytes: chunk[from..<to])) }
                if end >= wanted.upperBound { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// One range of `bytes=a-b`, `bytes=a-` or `bytes=-n` within `size`; nil when unsatisfiable or malformed.
    static func parseRange(_ header: String, size: Int64) -> Range<Int64>? {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix("bytes="), size > 0 else { return nil }
        let spec = text.dropFirst(6)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces), last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            guard let n = Int64(last), n > 0 else { return nil }
            return max(0, size - n)..<size
        }
        guard let a = Int64(first), a >= 0, a < size else { return nil }
        if last.isEmpty { return a..<size }
        guard let b = Int64(last), b >= a else { return nil }
        return a..<(min(b, size - 1) + 1)
    }

    /// The filename of a `Content-Disposition: attachment; filename="…"` header.
    static func filename(_ header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            guard pair.lowercased().hasPrefix("filename=") else { continue }
            var value = String(pair.dropFirst(9))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return (value as NSString).lastPathComponent
        }
        return nil
    }
}

extension JSONEncoder {
    /// The API's JSON: RFC 3339 dates, like the generated handlers.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
