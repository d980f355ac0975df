import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NvisyCore

/// A small client of the nvisy REST API over AsyncHTTPClient: JSON in and out, problem+json
/// answers turned into one clear ``NvisyError`` line, an SSE reader and a streamed upload.
struct APIClient: Sendable {
    /// `http(s)://host:port`, no trailing slash.
    let server: String
    /// The bearer token (session JWT or API token), if signed in.
    let token: String?

    /// Calls `method path` with an optional JSON body; answers the decoded JSON (nil for 204).
    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, json body: JSONValue? = nil) async throws -> JSONValue? {
        var request = makeRequest(method, path)
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        }
        let response = try await execute(request, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        try Self.check(response, bytes)
        guard bytes.readableBytes > 0 else { return nil }
        return try Self.decode(bytes)
    }

    /// `GET path` expecting a JSON answer.
    func get(_ path: String) async throws -> JSONValue {
        try await call(.GET, path) ?? .null
    }

    /// Streams `path` as Server-Sent Events, calling `handle(event, data)` per event until the
    /// stream ends or `handle` answers false.
    func events(_ path: String, _ handle: (String, String) throws -> Bool) async throws {
        var request = makeRequest(.GET, path)
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await execute(request, timeout: .hours(24))
        guard response.status == .ok else {
            try Self.check(response, try await response.body.collect(upTo: 1 << 20))
            return
        }
        var parser = SSEParser()
        for try await chunk in response.body {
            for event in parser.feed(chunk.readableBytesView) {
                if try !handle(event.name, event.data) { return }
            }
        }
    }

    /// Uploads a file as the raw request body, reporting bytes sent as they go.
    func upload(_ path: String, file: URL, contentType: String, size: Int64,
                progress: @escaping @Sendable (Int64) -> Void) async throws -> JSONValue {
        var request = makeRequest(.POST, path)
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .stream(FileChunks(path: file.path, progress: progress), length: .known(size))
        let response = try await execute(request, timeout: .hours(6))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        try Self.check(response, bytes)
        return try Self.decode(bytes)
    }

    // MARK: Plumbing

    func makeRequest(_ method: HTTPMethod, _ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: "nvisy-cli/\(Nvisy.version)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return request
    }

    func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        do {
            return try await HTTPClient.shared.execute(request, timeout: timeout)
        } catch let error as NvisyError {
            throw error
        } catch {
            throw NvisyError.unavailable("cannot reach \(server): \(error)")
        }
    }

    static func decode(_ bytes: ByteBuffer) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(buffer: bytes))
        } catch {
            throw NvisyError.internal("the server answered something that is not JSON: \(String(buffer: bytes).prefix(200))")
        }
    }

    /// Throws the answer's problem as one line: `404 Not Found: no pipeline … (/pointer: message)`.
    static func check(_ response: HTTPClientResponse, _ bytes: ByteBuffer) throws {
        guard !(200..<300).contains(response.status.code) else { return }
        let status = Int(response.status.code)
        let problem = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: bytes))
        throw problemError(status: status, reason: response.status.reasonPhrase, problem: problem, raw: String(buffer: bytes))
    }

    /// The one-line message for an RFC 9457 problem (or a plain error body).
    static func problemError(status: Int, reason: String, problem: JSONValue?, raw: String) -> NvisyError {
        var line = "\(status) \(problem?["title"]?.stringValue ?? reason)"
        if let detail = problem?["detail"]?.stringValue, !detail.isEmpty {
            line += ": \(detail)"
        } else if problem == nil, !raw.isEmpty {
            line += ": \(raw.prefix(200))"
        }
        let detail = problem?["detail"]?.stringValue ?? ""
        let fields = (problem?["errors"]?.arrayValue ?? []).map { error -> String in
            let pointer = error["pointer"]?.stringValue ?? ""
            let message = error["message"]?.stringValue ?? "\(error)"
            return pointer.isEmpty ? message : "\(pointer): \(message)"
        }.filter { !detail.contains($0) }  // some details already list every field
        if !fields.isEmpty { line += " (" + fields.joined(separator: "; ") + ")" }
        let kind: NvisyError.Kind = switch status {
        case 400, 413, 422: .invalidInput
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 409: .conflict
        case 429: .rateLimited
        case 503: .unavailable
        default: .internal
        }
        if status == 401, !line.contains("password") { line += "; run `nvisy login` or set NVISY_TOKEN" }
        return NvisyError(kind, line)
    }
}

/// A file read in 256 KiB chunks as a request body, counting what has been handed to the client.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let progress: @Sendable (Int64) -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        let progress: @Sendable (Int64) -> Void
        var handle: FileHandle?
        var sent: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            if handle == nil {
                guard let opened = FileHandle(forReadingAtPath: path) else {
                    throw NvisyError.notFound("cannot open \(path)")
                }
                handle = opened
            }
            guard let data = try handle?.read(upToCount: 256 << 10), !data.isEmpty else {
                try? handle?.close()
                return nil
            }
            sent += Int64(data.count)
            progress(sent)
            return ByteBuffer(data: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, progress: progress) }
}
