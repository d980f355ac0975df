import Foundation

/// An object's metadata, as ADR-20 stores it (JSON on `$O.<bucket>.M.<base64url(name)>`).
/// Field names match the NATS object store of every client (Go, Python, ...).
public struct ObjectInfo: Codable, Sendable, Hashable {
    /// A link to another object or bucket (ADR-20 `options.link`).
    public struct Link: Codable, Sendable, Hashable {
        public var bucket: String
        public var name: String?
    }

    public struct Options: Codable, Sendable, Hashable {
        public var link: Link?
        public var maxChunkSize: Int?

        enum CodingKeys: String, CodingKey {
            case link
            case maxChunkSize = "max_chunk_size"
        }
    }

    public var name: String
    public var description: String?
    /// Free-form headers (`{"Key": ["value", ...]}`).
    public var headers: [String: [String]]?
    public var options: Options?
    public var bucket: String
    /// The unique id whose subject `$O.<bucket>.C.<nuid>` holds the chunks.
    public var nuid: String
    public var size: UInt64
    /// Modification time, RFC 3339.
    public var mtime: String
    public var chunks: Int
    /// `SHA-256=<base64url of the digest>`.
    public var digest: String
    public var deleted: Bool

    enum CodingKeys: String, CodingKey {
        case name, description, headers, options, bucket, nuid, size, mtime, chunks, digest, deleted
    }

    init(name: String, description: String?, headers: [String: [String]]?, options: Options?, bucket: String,
         nuid: String, size: UInt64, mtime: String, chunks: Int, digest: String, deleted: Bool) {
        self.name = name
        self.description = description
        self.headers = headers
        self.options = options
        self.bucket = bucket
        self.nuid = nuid
        self.size = size
        self.mtime = mtime
        self.chunks = chunks
        self.digest = digest
        self.deleted = deleted
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        // Clients disagree on the shape of headers; never fail on them.
        headers = (try? c.decodeIfPresent([String: [String]].self, forKey: .headers))
            ?? (try? c.decodeIfPresent([String: String].self, forKey: .headers))?.mapValues { [$0] }
        options = try? c.decodeIfPresent(Options.self, forKey: .options)
        bucket = try c.decodeIfPresent(String.self, forKey: .bucket) ?? ""
        nuid = try c.decodeIfPresent(String.self, forKey: .nuid) ?? ""
        size = try c.decodeIfPresent(UInt64.self, forKey: .size) ?? 0
        mtime = try c.decodeIfPresent(String.self, forKey: .mtime) ?? ""
        chunks = try c.decodeIfPresent(Int.self, forKey: .chunks) ?? 0
        digest = try c.decodeIfPresent(String.self, forKey: .digest) ?? ""
        deleted = try c.decodeIfPresent(Bool.self, forKey: .deleted) ?? false
    }

    public func encode(to encoder: Encoder) throws {
        // Like Go's `omitempty`: leave out what is empty.
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        if let description, !description.isEmpty { try c.encode(description, forKey: .description) }
        if let headers, !headers.isEmpty { try c.encode(headers, forKey: .headers) }
        if let options { try c.encode(options, forKey: .options) }
        try c.encode(bucket, forKey: .bucket)
        try c.encode(nuid, forKey: .nuid)
        try c.encode(size, forKey: .size)
        try c.encode(mtime, forKey: .mtime)
        try c.encode(chunks, forKey: .chunks)
        try c.encode(digest, forKey: .digest)
        if deleted { try c.encode(deleted, forKey: .deleted) }
    }
}

/// What a caller may set on an object besides its bytes.
public struct ObjectMeta: Sendable, Hashable {
    public var description: String?
    public var headers: [String: [String]]?
    /// Chunk size in bytes (default 128 KiB, the ADR-20 default).
    public var chunkSize: Int

    public init(description: String? = nil, headers: [String: [String]]? = nil, chunkSize: Int = ObjectStore.defaultChunkSize) {
        self.description = description
        self.headers = headers
        self.chunkSize = chunkSize
    }
}

/// Encodings ADR-20 uses.
enum ObjectEncoding {
    /// URL-safe base64 with padding (Go's `base64.URLEncoding`, Python's `urlsafe_b64encode`).
    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
    }

    /// Decodes URL-safe or standard base64, padded or not.
    static func decodeBase64(_ s: String) -> [UInt8]? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).map(Array.init)
    }

    static let nuidAlphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A 22-character random id, like a NATS NUID.
    static func nuid() -> String {
        var g = SystemRandomNumberGenerator()
        return String(decoding: (0..<22).map { _ in nuidAlphabet[Int(g.next(upperBound: UInt64(nuidAlphabet.count)))] }, as: UTF8.self)
    }

    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }
}
