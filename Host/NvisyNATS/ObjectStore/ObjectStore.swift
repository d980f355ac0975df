import CNats
import Crypto
import Foundation
import Logging
import NvisyCore

/// How to create an object store bucket.
public struct ObjectStoreConfig: Sendable, Hashable {
    /// Letters, digits, `-` and `_`.
    public var bucket: String
    public var description: String?
    /// Objects older than this disappear; `nil` keeps them.
    public var ttl: Duration?
    public var storage: StreamDescription.Storage
    public var replicas: Int
    /// At most this many bytes in the bucket; `nil` for no limit.
    public var maxBytes: Int64?

    public init(bucket: String, description: String? = nil, ttl: Duration? = nil,
                storage: StreamDescription.Storage = .file, replicas: Int = 1, maxBytes: Int64? = nil) {
        self.bucket = bucket
        self.description = description
        self.ttl = ttl
        self.storage = storage
        self.replicas = replicas
        self.maxBytes = maxBytes
    }
}

extension JetStream {
    /// Creates the object store bucket if it does not exist (stream `OBJ_<bucket>`), and opens it.
    public func ensureObjectStore(_ config: ObjectStoreConfig) async throws -> ObjectStore {
        try Validate.bucketName(config.bucket)
        let js = self.js
        let replicas = connection.replicas
        let bucket = config.bucket
        _ = try await Blocking.run {
            let strings = CStrings()
            var cfg = jsStreamConfig()
            jsStreamConfig_Init(&cfg)
            cfg.Name = strings.make(ObjectStore.streamName(bucket))
            cfg.Description = strings.make(config.description)
            let subjects = ["$O.\(bucket).C.>", "$O.\(bucket).M.>"]
            cfg.Subjects = strings.array(subjects)
            cfg.SubjectsLen = Int32(subjects.count)
            cfg.Storage = config.storage == .file ? js_FileStorage : js_MemoryStorage
            cfg.Replicas = Int64(max(config.replicas, replicas))
            if let ttl = config.ttl { cfg.MaxAge = ttl.nanoseconds }
            cfg.MaxBytes = config.maxBytes ?? -1
            cfg.Discard = js_DiscardNew
            cfg.AllowRollup = true
            cfg.AllowDirect = true
            return try JetStream.addOrUpdate(js: js, config: &cfg, name: ObjectStore.streamName(bucket))
        }
        return ObjectStore(bucket: bucket, connection: connection)
    }

    /// Opens an existing object store bucket; `notFound` if there is none.
    public func objectStore(_ bucket: String) async throws -> ObjectStore {
        try Validate.bucketName(bucket)
        do {
            _ = try await streamInfo(ObjectStore.streamName(bucket))
        } catch let e as NvisyError where e.kind == .notFound {
            throw NvisyError.notFound("object store bucket \(bucket) does not exist")
        }
        return ObjectStore(bucket: bucket, connection: connection)
    }

    /// Deletes an object store bucket and all its objects.
    public func deleteObjectStore(_ bucket: String) async throws {
        try Validate.bucketName(bucket)
        do {
            try await deleteStream(ObjectStore.streamName(bucket))
        } catch let e as NvisyError where e.kind == .notFound {
            throw NvisyError.notFound("object store bucket \(bucket) does not exist")
        }
    }
}

/// A NATS object store bucket, implemented on JetStream as ADR-20 specifies, so
/// any NATS client's object store API reads what it writes and the other way round:
///
/// - stream `OBJ_<bucket>` with subjects `$O.<bucket>.C.>` and `$O.<bucket>.M.>`;
/// - an object's bytes in chunks (default 128 KiB) on `$O.<bucket>.C.<nuid>`;
/// - its ``ObjectInfo`` as JSON on `$O.<bucket>.M.<base64url(name)>`, published
///   with `Nats-Rollup: sub` so only the latest stays;
/// - the digest `SHA-256=<base64url>` of all bytes, checked on every read;
/// - a delete or overwrite purges the old chunks.
///
/// Puts and gets stream: memory use is bounded by a few chunks in flight, never
/// the object's size.
public final class ObjectStore: Sendable {
    public static let defaultChunkSize = 128 * 1024
    /// Chunks published before waiting for acks (bounds memory: this × chunk size).
    static let publishWindow = 32
    /// Chunks fetched per request when reading.
    static let fetchBatch = 16

    public let bucket: String
    let connection: NATSConnection
    let stream: String

    init(bucket: String, connection: NATSConnection) {
        self.bucket = bucket
        self.connection = connection
        self.stream = Self.streamName(bucket)
    }

    static func streamName(_ bucket: String) -> String { "OBJ_\(bucket)" }
    func metaSubject(_ name: String) -> String { "$O.\(bucket).M.\(ObjectEncoding.base64URL(Array(name.utf8)))" }
    func chunkSubject(_ nuid: String) -> String { "$O.\(bucket).C.\(nuid)" }

    static func validateName(_ name: String) throws {
        guard !name.isEmpty else { throw NvisyError.invalidInput("an object name cannot be empty", pointer: "/name") }
        guard name.utf8.count <= 1024 else {
            throw NvisyError.invalidInput("object name is longer than 1024 bytes", pointer: "/name")
        }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw NvisyError.invalidInput("object name \(name.debugDescription) contains control characters", pointer: "/name")
        }
    }

    // MARK: Info, list, delete

    /// The object's metadata; `notFound` if there is no such object (or it was deleted).
    public func info(_ name: String) async throws -> ObjectInfo {
        try Self.validateName(name)
        guard let info = try await rawInfo(name), !info.deleted else {
            throw NvisyError.notFound("object \(name.debugDescription) does not exist in bucket \(bucket)")
        }
        return info
    }

    /// The last metadata message for `name`, deleted or not; `nil` if none.
    func rawInfo(_ name: String) async throws -> ObjectInfo? {
        let js = connection.js
        let stream = self.stream
        let subject = metaSubject(name)
        let bucket = self.bucket
        let data: Data? = try await Blocking.run {
            var msg: OpaquePointer?
            var err = jsErrCode(rawValue: 0)
            let s = js_GetLastMsg(&msg, js.raw, stream, subject, nil, &err)
            if s == NATS_NOT_FOUND || err == JSNoMessageFoundErr { return nil }
            if err == JSStreamNotFoundErr { throw NvisyError.notFound("object store bucket \(bucket) does not exist") }
            try NATSStatus.check(s, "read metadata of \(name.debugDescription) in bucket \(bucket)", jsErr: err)
            defer { natsMsg_Destroy(msg) }
            let len = Int(natsMsg_GetDataLength(msg))
            return len > 0 ? Data(bytes: natsMsg_GetData(msg)!, count: len) : Data()
        }
        guard let data else { return nil }
        do {
            return try JSONDecoder().decode(ObjectInfo.self, from: data)
        } catch {
            throw NvisyError.internal("metadata of \(name.debugDescription) in bucket \(bucket) is not valid object info: \(error)")
        }
    }

    /// All objects in the bucket (deleted ones left out), by name.
    public func list() async throws -> [ObjectInfo] {
        let subjects = try await subjectCounts("$O.\(bucket).M.>", what: "list bucket \(bucket)").map(\.subject)
        var out: [ObjectInfo] = []
        let prefix = "$O.\(bucket).M."
        for subject in subjects {
            guard let bytes = ObjectEncoding.decodeBase64(String(subject.dropFirst(prefix.count))) else { continue }
            let name = String(decoding: bytes, as: UTF8.self)
            if let info = try await rawInfo(name), !info.deleted { out.append(info) }
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Deletes the object: its metadata becomes a delete marker and its chunks are purged.
    /// `notFound` if there is no such object.
    public func delete(_ name: String) async throws {
        var info = try await info(name)
        let oldChunks = chunkSubject(info.nuid)
        info.deleted = true
        info.size = 0
        info.chunks = 0
        info.digest = ""
        info.mtime = ObjectEncoding.now()
        try await publishMeta(info)
        try await purge(subject: oldChunks)
    }

    func publishMeta(_ info: ObjectInfo) async throws {
        let data = Array(try JSONEncoder().encode(info))
        _ = try await connection.jetStream.publish(
            subject: metaSubject(info.name), data: data, headers: [("Nats-Rollup", "sub")], expectStream: stream)
    }

    func purge(subject: String) async throws {
        let js = connection.js
        let stream = self.stream
        try await Blocking.run { try Self.purgeSync(js: js, stream: stream, subject: subject) }
    }

    static func purgeSync(js: CHandle, stream: String, subject: String) throws {
        let strings = CStrings()
        var o = jsOptions()
        jsOptions_Init(&o)
        o.Stream.Purge.Subject = strings.make(subject)
        var err = jsErrCode(rawValue: 0)
        try NATSStatus.check(js_PurgeStream(js.raw, stream, &o, &err), "purge \(subject)", jsErr: err)
    }

    // MARK: Put

    /// Stores `bytes` as object `name` (replacing any object of that name).
    @discardableResult
    public func put(_ name: String, bytes: [UInt8], meta: ObjectMeta = ObjectMeta()) async throws -> ObjectInfo {
        try await put(name, meta: meta) { writer in
            try await Blocking.run { try bytes.withUnsafeBytes { try writer.write($0) } }
        }
    }

    /// Stores the file at `path` as object `name`, reading it chunk by chunk.
    @discardableResult
    public func put(_ name: String, contentsOfFile path: String, meta: ObjectMeta = ObjectMeta()) async throws -> ObjectInfo {
        try await put(name, meta: meta) { writer in
            try await Blocking.run {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    throw NvisyError.invalidInput("cannot open \(path): \(String(cString: strerror(errno)))")
                }
                defer { close(fd) }
                let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: meta.chunkSize, alignment: 16)
                defer { buf.deallocate() }
                while true {
                    let n = read(fd, buf.baseAddress, buf.count)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw NvisyError.internal("cannot read \(path): \(String(cString: strerror(errno)))")
                    }
                    if n == 0 { break }
                    try writer.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
                }
            }
        }
    }

    /// Stores the byte chunks of `source` (any sizes) as object `name`, as they come.
    @discardableResult
    public func put<S: AsyncSequence & Sendable>(_ name: String, chunks source: S, meta: ObjectMeta = ObjectMeta()) async throws -> ObjectInfo
    where S.Element == [UInt8] {
        try await put(name, meta: meta) { writer in
            for try await chunk in source {
                try await Blocking.run { try chunk.withUnsafeBytes { try writer.write($0) } }
            }
        }
    }

    func put(_ name: String, meta: ObjectMeta, body: (ObjectWriter) async throws -> Void) async throws -> ObjectInfo {
        try Self.validateName(name)
        guard meta.chunkSize > 0 && meta.chunkSize <= 8 * 1024 * 1024 else {
            throw NvisyError.invalidInput("chunk size must be 1 byte ... 8 MiB, not \(meta.chunkSize)")
        }
        let existing = try await rawInfo(name)
        let nuid = ObjectEncoding.nuid()
        let subject = chunkSubject(nuid)
        let writer = try await Blocking.run { [connection] in
            try ObjectWriter(connection: connection, subject: subject, chunkSize: meta.chunkSize, window: Self.publishWindow)
        }
        let result: (size: UInt64, chunks: Int, digest: [UInt8])
        do {
            try await body(writer)
            result = try await Blocking.run { try writer.finish() }
        } catch {
            let js = connection.js
            let stream = self.stream
            await Blocking.run { try? writer.abandon(); try? Self.purgeSync(js: js, stream: stream, subject: subject) }
            throw error
        }
        let info = ObjectInfo(
            name: name, description: meta.description, headers: meta.headers,
            options: ObjectInfo.Options(link: nil, maxChunkSize: meta.chunkSize),
            bucket: bucket, nuid: nuid, size: result.size, mtime: ObjectEncoding.now(),
            chunks: result.chunks, digest: "SHA-256=" + ObjectEncoding.base64URL(result.digest), deleted: false)
        do {
            try await publishMeta(info)
        } catch {
            try? await purge(subject: subject)
            throw error
        }
        if let existing, !existing.deleted, !existing.nuid.isEmpty {
            try await purge(subject: chunkSubject(existing.nuid))
        }
        return info
    }

    // MARK: Get

    /// Reads object `name` as a sequence of chunks. The digest and size are
    /// checked when the last chunk has arrived: on a mismatch the sequence throws
    /// instead of ending, so a caller must not commit what it read before the
    /// sequence finished (``bytes(_:)`` and ``get(_:toFile:)`` do that for you).
    ///
    /// - Throws: `notFound` if there is no such object.
    public func get(_ name: String) async throws -> ObjectReader {
        var info = try await info(name)
        var store = self
        if let link = info.options?.link {
            guard let target = link.name else {
                throw NvisyError.invalidInput("object \(name.debugDescription) is a link to the bucket \(link.bucket), not to an object")
            }
            store = try await connection.jetStream.objectStore(link.bucket)
            info = try await store.info(target)
        }
        let session = try await Blocking.run { [store, info] in try ObjectReadSession(store: store, info: info) }
        return ObjectReader(info: info, session: session)
    }

    /// The whole object in memory, after its digest checked out. For small objects.
    public func bytes(_ name: String) async throws -> [UInt8] {
        let reader = try await get(name)
        var out: [UInt8] = []
        out.reserveCapacity(Int(reader.info.size))
        for try await chunk in reader { out.append(contentsOf: chunk) }
        return out
    }

    /// Writes object `name` to `path` (through a temporary file renamed into place
    /// only after the digest checked out) and returns its info.
    @discardableResult
    public func get(_ name: String, toFile path: String) async throws -> ObjectInfo {
        let reader = try await get(name)
        let session = reader.session
        let tmp = path + ".partial-\(ObjectEncoding.nuid())"
        try await Blocking.run {
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw NvisyError.invalidInput("cannot create \(tmp): \(String(cString: strerror(errno)))") }
            do {
                defer { close(fd) }
                while let msgs = try session.nextBatch() {
                    for m in msgs {
                        defer { natsMsg_Destroy(m.raw) }
                        let len = Int(natsMsg_GetDataLength(m.raw))
                        guard len > 0, let p = natsMsg_GetData(m.raw) else { continue }
                        var off = 0
                        while off < len {
                            let n = write(fd, p + off, len - off)
                            if n < 0 {
                                if errno == EINTR { continue }
                                throw NvisyError.internal("cannot write \(tmp): \(String(cString: strerror(errno)))")
                            }
                            off += n
                        }
                    }
                }
                guard rename(tmp, path) == 0 else {
                    throw NvisyError.internal("cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))")
                }
            } catch {
                unlink(tmp)
                throw error
            }
        }
        return reader.info
    }
}

/// Collects the first error nats.c reports for asynchronous publishes (on its own thread).
final class AsyncPublishErrors: Sendable {
    let first = Locked<String?>(nil)
    /// Whether JetStream refused a chunk for lack of storage.
    let outOfSpace = Locked<Bool>(false)
    func record(_ text: String, code: jsErrCode) {
        first.withLock { if $0 == nil { $0 = text } }
        if code == JSInsufficientResourcesErr || code == JSStorageResourcesExceededErr || code == JSMemoryResourcesExceededErr {
            outOfSpace.withLock { $0 = true }
        }
    }
}

/// JetStream has no room for the object (the store's `max_file_store`, or a full disk): nothing
/// of it is kept (its chunks are purged before this is thrown).
public struct ObjectStoreFullError: Error, Sendable, CustomStringConvertible {
    public let bucket: String
    public var description: String { "the object store \(bucket) is out of space" }
}

/// Publishes an object's chunks with a bounded window of unacknowledged publishes,
/// hashing as it goes.
///
/// `@unchecked Sendable`: its mutable state (`buffer`, `filled`, `hasher`,
/// counters) is touched only by `write`/`finish`/`abandon`, which ObjectStore.put
/// calls one after another (each awaited before the next), so never concurrently;
/// `js` is a jsCtx only this writer uses, destroyed in deinit after the last
/// publish completed or was abandoned.
final class ObjectWriter: @unchecked Sendable {
    let js: CHandle
    let errors: Unmanaged<AsyncPublishErrors>
    let subject: String
    let chunkSize: Int
    let timeoutMS: Int64
    private let buffer: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var hasher = SHA256()
    private(set) var size: UInt64 = 0
    private(set) var chunks = 0

    /// Runs on a blocking thread.
    init(connection: NATSConnection, subject: String, chunkSize: Int, window: Int) throws {
        self.subject = subject
        self.chunkSize = chunkSize
        self.timeoutMS = connection.requestTimeout.milliseconds
        let errors = Unmanaged.passRetained(AsyncPublishErrors())
        var opts = jsOptions()
        jsOptions_Init(&opts)
        opts.Wait = timeoutMS
        opts.PublishAsync.MaxPending = Int64(window)
        opts.PublishAsync.StallWait = timeoutMS
        opts.PublishAsync.ErrHandler = { _, pae, closure in
            guard let pae, let closure else { return }
            let text = pae.pointee.ErrText.map { String(cString: $0) } ?? NATSStatus.text(pae.pointee.Err)
            Unmanaged<AsyncPublishErrors>.fromOpaque(closure).takeUnretainedValue().record(text, code: pae.pointee.ErrCode)
        }
        opts.PublishAsync.ErrHandlerClosure = UnsafeMutableRawPointer(errors.toOpaque())
        var ctx: OpaquePointer?
        let s = natsConnection_JetStream(&ctx, connection.handle.raw, &opts)
        guard s == NATS_OK, let ctx else {
            errors.release()
            throw NATSStatus.error(s, "create a JetStream context for \(subject)")
        }
        self.js = CHandle(ctx)
        self.errors = errors
        self.buffer = .allocate(byteCount: chunkSize, alignment: 16)
    }

    deinit {
        jsCtx_Destroy(js.raw)
        errors.release()
        buffer.deallocate()
    }

    private func checkErrors() throws {
        if let e = errors.takeUnretainedValue().first.withLock({ $0 }) {
            if errors.takeUnretainedValue().outOfSpace.withLock({ $0 }) { throw ObjectStoreFullError(bucket: subject.split(separator: ".").dropFirst().first.map(String.init) ?? subject) }
            throw NvisyError.unavailable("storing a chunk on \(subject) failed: \(e)")
        }
    }

    private func publish(_ chunk: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: chunk)
        let s = js_PublishAsync(js.raw, subject, chunk.baseAddress, Int32(chunk.count), nil)
        try NATSStatus.check(s, "publish a chunk to \(subject)")
        size += UInt64(chunk.count)
        chunks += 1
        if chunks % 16 == 0 { try checkErrors() }
    }

    /// Appends bytes; publishes every full chunk. Runs on a blocking thread.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            if filled == 0 && rest.count >= chunkSize {
                try publish(UnsafeRawBufferPointer(rebasing: rest[0..<chunkSize]))
                rest = UnsafeRawBufferPointer(rebasing: rest[chunkSize...])
                continue
            }
            let n = min(chunkSize - filled, rest.count)
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + n)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[0..<n]))
            filled += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if filled == chunkSize {
                try publish(UnsafeRawBufferPointer(buffer))
                filled = 0
            }
        }
    }

    /// Publishes the last partial chunk and waits for every ack. Runs on a blocking thread.
    func finish() throws -> (size: UInt64, chunks: Int, digest: [UInt8]) {
        if filled > 0 {
            try publish(UnsafeRawBufferPointer(rebasing: buffer[0..<filled]))
            filled = 0
        }
        var po = jsPubOptions()
        jsPubOptions_Init(&po)
        po.MaxWait = max(timeoutMS, 30_000)
        let s = js_PublishAsyncComplete(js.raw, &po)
        try checkErrors()
        try NATSStatus.check(s, "wait for the chunks on \(subject) to be stored")
        return (size, chunks, Array(hasher.finalize()))
    }

    /// Waits briefly for publishes in flight so nothing lands after the purge.
    func abandon() throws {
        var po = jsPubOptions()
        jsPubOptions_Init(&po)
        po.MaxWait = timeoutMS
        _ = js_PublishAsyncComplete(js.raw, &po)
    }
}

/// Reads one object's chunks through an ephemeral pull consumer and checks them.
///
/// `@unchecked Sendable`: the mutable counters and hasher are used only by
/// `nextBatch`, which the one reader of a session calls one batch at a time
/// (each call awaited before the next) and which also holds `lock`.
final class ObjectReadSession: @unchecked Sendable {
    let info: ObjectInfo
    /// `nil` for an empty object: there is nothing to fetch.
    let sub: RawPullSubscription?
    let timeout: Duration
    let name: String
    private let lock = NSLock()
    private var hasher = SHA256()
    private var received = 0
    private var bytes: UInt64 = 0
    private var done = false

    /// Runs on a blocking thread.
    init(store: ObjectStore, info: ObjectInfo) throws {
        self.info = info
        self.name = info.name
        self.timeout = store.connection.requestTimeout
        self.sub = info.chunks == 0 ? nil : try Self.subscribe(store: store, info: info, connection: store.connection)
    }

    private static func subscribe(store: ObjectStore, info: ObjectInfo, connection: NATSConnection) throws -> RawPullSubscription {
        let strings = CStrings()
        var subOpts = jsSubOptions()
        jsSubOptions_Init(&subOpts)
        subOpts.Stream = strings.make(store.stream)
        subOpts.Config.AckPolicy = js_AckNone
        subOpts.Config.DeliverPolicy = js_DeliverAll
        subOpts.Config.InactiveThreshold = Duration.seconds(30).nanoseconds
        subOpts.Config.MemoryStorage = true
        var sub: OpaquePointer?
        var err = jsErrCode(rawValue: 0)
        let subject = store.chunkSubject(info.nuid)
        let s = js_PullSubscribe(&sub, connection.js.raw, subject, nil, nil, &subOpts, &err)
        try NATSStatus.check(s, "read the chunks of \(info.name.debugDescription) in bucket \(store.bucket)", jsErr: err)
        return RawPullSubscription(sub: CHandle(sub!), connection: connection, what: "object \(info.name.debugDescription)")
    }

    deinit {
        // Abandoned before the end: drop the ephemeral consumer, off this thread
        // (unsubscribing asks the server to delete it and waits for the reply).
        if !done, let sub { Blocking.detach { _ = natsSubscription_Unsubscribe(sub.sub.raw) } }
    }

    /// The next chunks (the caller destroys them), or `nil` once all arrived and
    /// the size and digest checked out. Runs on a blocking thread.
    func nextBatch() throws -> [CHandle]? {
        lock.lock()
        defer { lock.unlock() }
        if done { return nil }
        guard let sub, received < info.chunks else {
            try verify()
            return nil
        }
        let want = min(ObjectStore.fetchBatch, info.chunks - received)
        var attempts = 0
        while true {
            switch try sub.fetchSync(batch: want, wait: timeout) {
            case .messages(let msgs):
                for m in msgs {
                    let len = Int(natsMsg_GetDataLength(m.raw))
                    if len > 0, let p = natsMsg_GetData(m.raw) {
                        hasher.update(bufferPointer: UnsafeRawBufferPointer(start: p, count: len))
                    }
                    bytes += UInt64(len)
                }
                received += msgs.count
                if received > info.chunks {
                    msgs.forEach { natsMsg_Destroy($0.raw) }
                    throw NvisyError.internal("object \(name.debugDescription) has more chunks than its metadata says (\(info.chunks))")
                }
                return msgs
            case .empty, .retryLater:
                attempts += 1
                if attempts >= 3 {
                    throw NvisyError.unavailable(
                        "object \(name.debugDescription) is incomplete or unreachable: got \(received) of \(info.chunks) chunks")
                }
            }
        }
    }

    private func verify() throws {
        done = true
        if let sub { _ = natsSubscription_Unsubscribe(sub.sub.raw) }
        let digest = Array(hasher.finalize())
        let expected = info.digest.hasPrefix("SHA-256=") || info.digest.hasPrefix("sha-256=")
            ? ObjectEncoding.decodeBase64(String(info.digest.dropFirst(8))) : nil
        guard bytes == info.size else {
            throw NvisyError.internal("object \(name.debugDescription) is corrupt: read \(bytes) bytes, its metadata says \(info.size)")
        }
        guard let expected, expected == digest else {
            throw NvisyError.internal(
                "object \(name.debugDescription) is corrupt: digest mismatch (stored \(info.digest), read SHA-256=\(ObjectEncoding.base64URL(digest)))")
        }
    }
}

/// The chunks of one object, as an `AsyncSequence` of byte arrays. Throws at the
/// end instead of finishing if the size or digest does not match.
public struct ObjectReader: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    /// The object's metadata (size, digest, chunks...).
    public let info: ObjectInfo
    let session: ObjectReadSession

    public func makeAsyncIterator() -> Iterator { Iterator(session: session) }

    public struct Iterator: AsyncIteratorProtocol {
        let session: ObjectReadSession
        var pending: [[UInt8]] = []
        var index = 0

        public mutating func next() async throws -> [UInt8]? {
            if index < pending.count {
                defer { index += 1 }
                return pending[index]
            }
            let session = self.session
            let batch: [[UInt8]]? = try await Blocking.run {
                guard let msgs = try session.nextBatch() else { return nil }
                return msgs.map { m in
                    defer { natsMsg_Destroy(m.raw) }
                    let len = Int(natsMsg_GetDataLength(m.raw))
                    guard len > 0, let p = natsMsg_GetData(m.raw) else { return [] }
                    return [UInt8](UnsafeRawBufferPointer(start: p, count: len))
                }
            }
            guard let batch, !batch.isEmpty else { return nil }
            pending = batch
            index = 1
            return batch[0]
        }
    }
}
