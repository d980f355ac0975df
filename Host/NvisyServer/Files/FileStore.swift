import Foundation
import Hummingbird
import Logging
import NIOCore
import NvisyCore
import NvisyNATS
import NvisyPostgres

/// Files: bytes in the NATS object store bucket ``bucket``, metadata rows in Postgres.
///
/// An upload first records a row in state `uploading`, then streams the body into the object
/// `f/<random uuid>` (the key names no workspace) while measuring its size and SHA-256, and
/// finally marks the row `ready` together with its `file.uploaded` event. Any failure — too
/// large, over quota, the client gone — purges the object's chunks and removes the row, so
/// object and row exist both or neither; ``sweep(olderThan:)`` (run at start) removes what a
/// crashed host left behind: unfinished rows, objects without a row, chunks without an object.
public final class FileStore: Sendable {
    public static let bucket = "nvisy-files"
    public let objects: ObjectStore
    let files: FileRepository
    let logger: Logger

    public init(objects: ObjectStore, files: FileRepository, logger: Logger) {
        self.objects = objects
        self.files = files
        self.logger = logger
    }

    /// Opens (creating if needed) the files bucket.
    /// Opens (creating if needed) the bucket. A JetStream that is not ready yet — a cluster still
    /// electing its leaders, an API request timing out on a busy machine — is waited for up to
    /// `patience`, not a reason to stop the host.
    public static func open(nats: NATSConnection, files: FileRepository, logger: Logger, patience: Duration = .seconds(60)) async throws -> FileStore {
        let deadline = ContinuousClock.now + patience
        while true {
            do {
                let objects = try await nats.jetStream.ensureObjectStore(ObjectStoreConfig(bucket: bucket, description: "nvisy uploaded files"))
                return FileStore(objects: objects, files: files, logger: logger)
            } catch let error as NvisyError where error.retry == .transient && ContinuousClock.now < deadline {
                logger.warning("the file store's JetStream bucket is not ready yet; retrying", metadata: ["error": "\(error.message)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// What an upload is.
    public struct Upload: Sendable {
        public var workspaceID: UUID
        public var name: String
        public var declaredType: String?
        public var tags: [String]
        public var createdBy: UUID
        /// The Content-Length, when the client sent one.
        public var declaredSize: Int64?
    }

    /// Streams `body` into a new file (a new version when the name exists). Throws 413 when it is
    /// larger than `maxBytes` or would take the workspace over `quota` (0 = none); nothing is kept then.
    public func upload<Body: AsyncSequence & Sendable>(_ upload: Upload, body: Body, maxBytes: Int64, quota: Int64) async throws -> FileRecord
    where Body.Element == ByteBuffer {
        var limit = maxBytes
        if let size = upload.declaredSize, size > maxBytes { throw Self.tooLarge("the file is \(size) bytes; the limit is \(maxBytes) bytes") }
        if quota > 0 {
            let used = try await files.usage(workspaceID: upload.workspaceID)
            let room = max(0, quota - used)
            if let size = upload.declaredSize, size > room {
                throw Self.tooLarge("the workspace quota is \(quota) bytes and \(used) are used; this file (\(size) bytes) does not fit")
            }
            limit = min(limit, room)
        }
        let id = UUID.v7()
        let key = "f/" + UUID().uuidString.lowercased()
        try await files.begin(id: id, workspaceID: upload.workspaceID, name: upload.name, objectKey: key,
                              declaredType: upload.declaredType, tags: upload.tags, createdBy: upload.createdBy)
        let meter = Meter(limit: limit, maxBytes: maxBytes, quota: quota)
        do {
            let info = try await objects.put(key, chunks: MeteredBody(base: body, meter: meter))
            // The object store hashes every byte it stores (SHA-256, ADR-20): that digest is the
            // file's, so the bytes are hashed once, not twice.
            guard let digest = Self.hex(objectDigest: info.digest), UInt64(meter.result().0) == info.size else {
                throw NvisyError.internal("the object store reported \(info.size) bytes with digest \(info.digest) for an upload of \(meter.result().0) bytes")
            }
            let (size, head) = meter.result()
            let sniffed = ContentSniffer.sniff(head, name: upload.name)
            let contentType = ContentSniffer.choose(sniffed: sniffed, declared: upload.declaredType, name: upload.name)
            return try await files.complete(id: id, size: size, sha256: digest, sniffedType: sniffed, contentType: contentType) { file in
                let payload: [String: Any] = ["fileId": file.id.uuidString.lowercased(), "name": file.name, "size": file.size,
                                              "sha256": digest, "contentType": file.contentType, "version": file.version]
                return (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            }
        } catch {
            // Not cancellable: the client may be gone, the cleanup must still happen.
            await Task { [self] in await discard(id: id, key: key) }.value
            if let over = meter.overLimit { throw over }
            if error is ObjectStoreFullError {
                logger.error("the file store is out of space; an upload was refused", metadata: ["workspace_id": "\(upload.workspaceID)"])
                throw HTTPError(.init(code: 507, reasonPhrase: "Insufficient Storage"),
                                message: "the file store is out of storage space; nothing of this upload was kept. Delete files, or ask the operator to give NATS JetStream more room (max_file_store or disk)")
            }
            throw error
        }
    }

    /// Removes an object (if any) and then its row.
    func discard(id: UUID, key: String) async {
        do {
            try await objects.delete(key)
        } catch let error as NvisyError where error.kind == .notFound {
        } catch {
            logger.warning("cannot delete the object of a failed upload; the start-up sweep retries", metadata: ["file_id": "\(id)", "error": "\(error)"])
            return
        }
        do { try await files.remove(id: id) } catch {
            logger.warning("cannot remove the row of a failed upload; the start-up sweep retries", metadata: ["file_id": "\(id)", "error": "\(error.message)"])
        }
    }

    /// Deletes a file: hidden at once (`deleting`), then its object, then its row. With
    /// `deferred` (a run of its workspace is queued or running and may read it) the bytes stay
    /// until no such run is left: ``reapDeleted()`` removes them then.
    public func delete(_ file: FileRecord, deferred: Bool = false) async throws {
        guard try await files.markDeleting(id: file.id) != nil else { throw NvisyError.notFound("no file \(file.id.uuidString.lowercased())") }
        if deferred { return }
        await Task { [self] in await discard(id: file.id, key: file.objectKey) }.value
    }

    /// Removes the bytes and rows of deleted files that no run may read any more. Returns how many.
    @discardableResult
    public func reapDeleted() async -> Int {
        do {
            let files = try await self.files.reapable()
            for file in files { await discard(id: file.id, key: file.objectKey) }
            return files.count
        } catch {
            logger.debug("cannot reap deleted files", metadata: ["error": "\(error)"])
            return 0
        }
    }

    /// Removes what interrupted uploads and deletes left behind (run at start):
    /// - rows not `ready` (uploads that never finished, deletes that never completed) last touched
    ///   before `grace` ago, with their objects;
    /// - objects of this store (`f/…`) that no row names: an upload inserts its row before it
    ///   writes a byte and a delete removes the object before the row, so such an object is
    ///   never live — nothing newer than the listing is looked at;
    /// - chunks no object names (a put that died before its metadata) idle for `grace`.
    ///
    /// Returns how many rows, objects and chunk sets were removed. Safe with several hosts.
    @discardableResult
    public func sweep(olderThan grace: Duration = .seconds(3600)) async -> Int {
        let before = Date().addingTimeInterval(-Double(grace.components.seconds))
        var removed = 0
        do {
            let rows = try await files.leftovers(before: before)
            for row in rows { await discard(id: row.id, key: row.objectKey) }
            if !rows.isEmpty { logger.notice("swept unfinished uploads and deletes", metadata: ["count": "\(rows.count)"]) }
            removed += rows.count
        } catch {
            logger.warning("cannot sweep unfinished uploads", metadata: ["error": "\(error)"])
        }
        do {
            var orphans = 0
            for object in try await objects.list() where object.name.hasPrefix("f/") {
                guard try await !files.objectKeyExists(object.name) else { continue }
                do { try await objects.delete(object.name) } catch let error as NvisyError where error.kind == .notFound { continue }
                orphans += 1
            }
            if orphans > 0 { logger.notice("swept objects without a file row", metadata: ["count": "\(orphans)"]) }
            let chunks = try await objects.purgeOrphanedChunks(olderThan: grace)
            if chunks > 0 { logger.notice("swept chunks of unfinished object writes", metadata: ["count": "\(chunks)"]) }
            removed += orphans + chunks
        } catch {
            logger.warning("cannot sweep the object store", metadata: ["error": "\(error)"])
        }
        return removed
    }

    /// Lowercase hex of an ADR-20 digest `SHA-256=<base64url>`; nil if it is not one.
    static func hex(objectDigest: String) -> String? {
        guard objectDigest.lowercased().hasPrefix("sha-256=") else { return nil }
        var text = String(objectDigest.dropFirst(8)).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let bytes = Data(base64Encoded: text), bytes.count == 32 else { return nil }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func tooLarge(_ message: String) -> HTTPError {
        HTTPError(.contentTooLarge, message: message)
    }
}

/// Counts and bounds the bytes of an upload as they pass, and keeps its first 512 bytes (for sniffing).
final class Meter: @unchecked Sendable {
    private let lock = NSLock()
    private var size: Int64 = 0
    private var head: [UInt8] = []
    let limit: Int64
    let maxBytes: Int64
    let quota: Int64
    private(set) var overLimit: HTTPError?

    init(limit: Int64, maxBytes: Int64, quota: Int64) {
        self.limit = limit
        self.maxBytes = maxBytes
        self.quota = quota
    }

    func add(_ bytes: [UInt8]) throws {
        try lock.withLock {
            size += Int64(bytes.count)
            if size > limit {
                overLimit = size > maxBytes
                    ? FileStore.tooLarge("the file is larger than the limit of \(maxBytes) bytes")
                    : FileStore.tooLarge("the file does not fit in the workspace quota of \(quota) bytes")
                throw overLimit!
            }
            if head.count < 512 { head += bytes.prefix(512 - head.count) }
        }
    }

    func result() -> (Int64, [UInt8]) {
        lock.withLock { (size, head) }
    }
}

/// The request body as byte arrays of up to ``batch`` bytes, through a ``Meter``.
///
/// A socket delivers the body in pieces of a few KiB; each piece handed to the object store
/// costs a hop to its blocking thread pool, so small pieces are gathered first (memory stays
/// bounded by one batch).
struct MeteredBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = [UInt8]
    static var batch: Int { 256 * 1024 }
    let base: Base
    let meter: Meter

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let meter: Meter
        var ended = false

        mutating func next() async throws -> [UInt8]? {
            guard !ended else { return nil }
            var bytes: [UInt8] = []
            while bytes.count < MeteredBody.batch {
                guard let buffer = try await base.next() else {
                    ended = true
                    break
                }
                if bytes.isEmpty && buffer.readableBytes >= MeteredBody.batch {
                    bytes = Array(buffer: buffer)
                } else {
                    if bytes.isEmpty { bytes.reserveCapacity(MeteredBody.batch + buffer.readableBytes) }
                    bytes.append(contentsOf: buffer.readableBytesView)
                }
            }
            if bytes.isEmpty { return nil }
            try meter.add(bytes)
            return bytes
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), meter: meter) }
}
