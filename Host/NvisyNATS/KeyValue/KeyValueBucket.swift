import CNats
import Foundation
import Logging
import NvisyCore

/// How to create a KV bucket.
public struct KeyValueConfig: Sendable, Hashable {
    /// Letters, digits, `-` and `_`.
    public var bucket: String
    /// Entries older than this disappear; `nil` keeps them forever.
    public var ttl: Duration?
    /// Revisions kept per key (1...64).
    public var history: Int
    public var storage: StreamDescription.Storage
    public var replicas: Int
    /// Largest value in bytes; `nil` for the server's limit.
    public var maxValueSize: Int?
    public var description: String?

    public init(bucket: String, ttl: Duration? = nil, history: Int = 1, storage: StreamDescription.Storage = .file,
                replicas: Int = 1, maxValueSize: Int? = nil, description: String? = nil) {
        self.bucket = bucket
        self.ttl = ttl
        self.history = history
        self.storage = storage
        self.replicas = replicas
        self.maxValueSize = maxValueSize
        self.description = description
    }
}

/// One stored value and its revision.
public struct KeyValueEntry<Value: Codable & Sendable>: Sendable {
    public var key: String
    public var value: Value
    /// Bucket-wide sequence; pass it to ``KeyValueBucket/update(_:_:expectedRevision:)``.
    public var revision: UInt64
    public var created: Date
}

/// A change seen by ``KeyValueBucket/watch(_:includeHistory:)``.
public struct KeyValueChange<Value: Codable & Sendable>: Sendable {
    public enum Operation: Sendable {
        case put(Value)
        case delete
        case purge
    }
    public var key: String
    public var revision: UInt64
    public var operation: Operation

    /// The new value of a put.
    public var value: Value? {
        if case .put(let v) = operation { return v }
        return nil
    }
}

extension JetStream {
    /// Creates the bucket if it does not exist, and opens it. Values are JSON-encoded `Value`s.
    public func ensureKeyValue<Value: Codable & Sendable>(_ config: KeyValueConfig, as type: Value.Type) async throws -> KeyValueBucket<Value> {
        try Validate.bucketName(config.bucket)
        guard (1...64).contains(config.history) else {
            throw NvisyError.invalidInput("KV history must be 1...64, not \(config.history)")
        }
        let js = self.js
        let replicas = connection.replicas
        let kv: CHandle = try await Blocking.run {
            let strings = CStrings()
            var cfg = kvConfig()
            kvConfig_Init(&cfg)
            cfg.Bucket = strings.make(config.bucket)
            cfg.Description = strings.make(config.description)
            cfg.History = UInt8(config.history)
            cfg.TTL = config.ttl?.nanoseconds ?? 0
            cfg.StorageType = config.storage == .file ? js_FileStorage : js_MemoryStorage
            cfg.Replicas = Int32(max(config.replicas, replicas))
            if let m = config.maxValueSize { cfg.MaxValueSize = Int32(m) }
            var kv: OpaquePointer?
            var s = js_CreateKeyValue(&kv, js.raw, &cfg)
            if s != NATS_OK {
                // It exists with another configuration: open it as it is.
                let open = js_KeyValue(&kv, js.raw, config.bucket)
                if open == NATS_OK { s = NATS_OK }
            }
            try NATSStatus.check(s, "create KV bucket \(config.bucket)")
            return CHandle(kv!)
        }
        return KeyValueBucket(kv: kv, bucket: config.bucket, connection: connection)
    }

    /// Opens an existing bucket; `notFound` if there is none.
    public func keyValue<Value: Codable & Sendable>(_ bucket: String, as type: Value.Type) async throws -> KeyValueBucket<Value> {
        try Validate.bucketName(bucket)
        let js = self.js
        let kv: CHandle = try await Blocking.run {
            var kv: OpaquePointer?
            let s = js_KeyValue(&kv, js.raw, bucket)
            if s == NATS_NOT_FOUND { throw NvisyError.notFound("KV bucket \(bucket) does not exist") }
            try NATSStatus.check(s, "open KV bucket \(bucket)")
            return CHandle(kv!)
        }
        return KeyValueBucket(kv: kv, bucket: bucket, connection: connection)
    }

    /// Deletes a bucket and everything in it; `notFound` if there is none.
    public func deleteKeyValue(_ bucket: String) async throws {
        try Validate.bucketName(bucket)
        let js = self.js
        try await Blocking.run {
            let s = js_DeleteKeyValue(js.raw, bucket)
            if s == NATS_NOT_FOUND { throw NvisyError.notFound("KV bucket \(bucket) does not exist") }
            try NATSStatus.check(s, "delete KV bucket \(bucket)")
        }
    }
}

/// A KV bucket whose values are JSON-encoded `Value`s.
///
/// `@unchecked Sendable`: `kv` is immutable, nats.c's kvStore is thread-safe
/// (see CHandle), and it is destroyed only in deinit; `connection` keeps the
/// connection it uses alive.
public final class KeyValueBucket<Value: Codable & Sendable>: @unchecked Sendable {
    let kv: CHandle
    public let bucket: String
    let connection: NATSConnection

    init(kv: CHandle, bucket: String, connection: NATSConnection) {
        self.kv = kv
        self.bucket = bucket
        self.connection = connection
    }

    deinit { kvStore_Destroy(kv.raw) }

    private func encode(_ value: Value) throws -> [UInt8] {
        do { return Array(try JSONEncoder().encode(value)) } catch {
            throw NvisyError.invalidInput("cannot encode \(Value.self) as JSON: \(error)")
        }
    }

    static func validateKey(_ key: String) throws {
        let ok = !key.isEmpty && !key.hasPrefix(".") && !key.hasSuffix(".") && !key.contains("..") && key.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == 0x2D || c == 0x5F || c == 0x2F || c == 0x3D || c == 0x2E
        }
        guard ok else {
            throw NvisyError.invalidInput("invalid KV key \"\(key)\": use letters, digits and - _ / = . (no leading, trailing or double dots)")
        }
    }

    /// The current value of `key`, or `nil` if it has none (never set, deleted or expired).
    public func get(_ key: String) async throws -> KeyValueEntry<Value>? {
        try Self.validateKey(key)
        let kv = self.kv
        let bucket = self.bucket
        let raw: (Data, UInt64, Int64)? = try await Blocking.run {
            var e: OpaquePointer?
            let s = kvStore_Get(&e, kv.raw, key)
            if s == NATS_NOT_FOUND { return nil }
            try NATSStatus.check(s, "get \(key) from KV bucket \(bucket)")
            defer { kvEntry_Destroy(e) }
            let len = Int(kvEntry_ValueLen(e))
            let data = len > 0 ? Data(bytes: kvEntry_Value(e)!, count: len) : Data()
            return (data, kvEntry_Revision(e), kvEntry_Created(e))
        }
        guard let (data, revision, created) = raw else { return nil }
        do {
            let value = try JSONDecoder().decode(Value.self, from: data)
            return KeyValueEntry(key: key, value: value, revision: revision,
                                 created: Date(timeIntervalSince1970: Double(created) / 1e9))
        } catch {
            throw NvisyError.internal("the value of \(key) in KV bucket \(bucket) does not decode as \(Value.self): \(error)")
        }
    }

    /// Sets `key` whatever its current revision; returns the new revision.
    @discardableResult
    public func put(_ key: String, _ value: Value) async throws -> UInt64 {
        try Self.validateKey(key)
        let data = try encode(value)
        let kv = self.kv
        let bucket = self.bucket
        return try await Blocking.run {
            var rev: UInt64 = 0
            let s = data.withUnsafeBytes { kvStore_Put(&rev, kv.raw, key, $0.baseAddress, Int32($0.count)) }
            try NATSStatus.check(s, "put \(key) into KV bucket \(bucket)")
            return rev
        }
    }

    /// Sets `key` only if it has no value; `conflict` otherwise.
    @discardableResult
    public func create(_ key: String, _ value: Value) async throws -> UInt64 {
        try Self.validateKey(key)
        let data = try encode(value)
        let kv = self.kv
        let bucket = self.bucket
        return try await Blocking.run {
            var rev: UInt64 = 0
            let s = data.withUnsafeBytes { kvStore_Create(&rev, kv.raw, key, $0.baseAddress, Int32($0.count)) }
            if s == NATS_ERR { throw NvisyError.conflict("\(key) already has a value in KV bucket \(bucket)") }
            try NATSStatus.check(s, "create \(key) in KV bucket \(bucket)")
            return rev
        }
    }

    /// Sets `key` only if its current revision is `expectedRevision` (compare-and-set);
    /// `conflict` if someone changed it since.
    @discardableResult
    public func update(_ key: String, _ value: Value, expectedRevision: UInt64) async throws -> UInt64 {
        try Self.validateKey(key)
        let data = try encode(value)
        let kv = self.kv
        let bucket = self.bucket
        return try await Blocking.run {
            var rev: UInt64 = 0
            let s = data.withUnsafeBytes { kvStore_Update(&rev, kv.raw, key, $0.baseAddress, Int32($0.count), expectedRevision) }
            if s == NATS_ERR {
                throw NvisyError.conflict("\(key) in KV bucket \(bucket) is no longer at revision \(expectedRevision); read it again and retry")
            }
            try NATSStatus.check(s, "update \(key) in KV bucket \(bucket)")
            return rev
        }
    }

    /// Deletes `key` (a delete marker; history is kept).
    public func delete(_ key: String) async throws {
        try Self.validateKey(key)
        let kv = self.kv
        let bucket = self.bucket
        try await Blocking.run {
            try NATSStatus.check(kvStore_Delete(kv.raw, key), "delete \(key) from KV bucket \(bucket)")
        }
    }

    /// Removes `key` and all its history.
    public func purge(_ key: String) async throws {
        try Self.validateKey(key)
        let kv = self.kv
        let bucket = self.bucket
        try await Blocking.run {
            try NATSStatus.check(kvStore_Purge(kv.raw, key, nil), "purge \(key) from KV bucket \(bucket)")
        }
    }

    /// The keys that currently have a value.
    public func keys() async throws -> [String] {
        let kv = self.kv
        let bucket = self.bucket
        return try await Blocking.run {
            var list = kvKeysList()
            let s = kvStore_Keys(&list, kv.raw, nil)
            if s == NATS_NOT_FOUND { return [] }
            try NATSStatus.check(s, "list keys of KV bucket \(bucket)")
            defer { kvKeysList_Destroy(&list) }
            return (0..<Int(list.Count)).compactMap { list.Keys[$0].map { String(cString: $0) } }
        }
    }

    /// Watches keys matching `keys` (wildcards `*`, `>`): first the current value
    /// of each (or every revision with `includeHistory`), then every change as it
    /// happens. Ends when the task is cancelled or ``KeyValueWatch/stop()`` is called.
    public func watch(_ keys: String = ">", includeHistory: Bool = false) async throws -> KeyValueWatch<Value> {
        let kv = self.kv
        let bucket = self.bucket
        let w: CHandle = try await Blocking.run {
            var opts = kvWatchOptions()
            kvWatchOptions_Init(&opts)
            opts.IncludeHistory = includeHistory
            var w: OpaquePointer?
            try NATSStatus.check(kvStore_Watch(&w, kv.raw, keys, &opts), "watch \(keys) in KV bucket \(bucket)")
            return CHandle(w!)
        }
        return KeyValueWatch(watcher: w, bucket: self)
    }
}

/// The changes of a KV watch, as an `AsyncSequence`.
///
/// `@unchecked Sendable`: `watcher` is immutable; nats.c's kvWatcher is
/// thread-safe for Next/Stop (it locks itself) and is destroyed only in deinit;
/// `bucket` keeps the store alive.
public final class KeyValueWatch<Value: Codable & Sendable>: AsyncSequence, @unchecked Sendable {
    public typealias Element = KeyValueChange<Value>
    let watcher: CHandle
    let bucket: KeyValueBucket<Value>

    init(watcher: CHandle, bucket: KeyValueBucket<Value>) {
        self.watcher = watcher
        self.bucket = bucket
    }

    deinit {
        kvWatcher_Stop(watcher.raw)
        kvWatcher_Destroy(watcher.raw)
    }

    /// Stops the watch; iteration ends.
    public func stop() {
        kvWatcher_Stop(watcher.raw)
    }

    public func makeAsyncIterator() -> Iterator { Iterator(watch: self) }

    public struct Iterator: AsyncIteratorProtocol {
        let watch: KeyValueWatch<Value>

        public mutating func next() async throws -> KeyValueChange<Value>? {
            let w = watch.watcher
            let bucket = watch.bucket.bucket
            while !Task.isCancelled {
                let step: WatchStep = try await Blocking.run {
                    var e: OpaquePointer?
                    let s = kvWatcher_Next(&e, w.raw, 1000)
                    switch s {
                    case NATS_OK:
                        guard let e else { return .marker }
                        defer { kvEntry_Destroy(e) }
                        let len = Int(kvEntry_ValueLen(e))
                        let data = len > 0 ? Data(bytes: kvEntry_Value(e)!, count: len) : Data()
                        return .change(String(cString: kvEntry_Key(e)), kvEntry_Revision(e), kvEntry_Operation(e), data)
                    case NATS_TIMEOUT: return .timeout
                    case NATS_ILLEGAL_STATE, NATS_INVALID_SUBSCRIPTION, NATS_CONNECTION_CLOSED: return .stopped
                    default: throw NATSStatus.error(s, "watch KV bucket \(bucket)")
                    }
                }
                switch step {
                case .marker, .timeout: continue
                case .stopped: return nil
                case .change(let key, let rev, let op, let data):
                    switch op {
                    case kvOp_Delete: return KeyValueChange(key: key, revision: rev, operation: .delete)
                    case kvOp_Purge: return KeyValueChange(key: key, revision: rev, operation: .purge)
                    default:
                        do {
                            let v = try JSONDecoder().decode(Value.self, from: data)
                            return KeyValueChange(key: key, revision: rev, operation: .put(v))
                        } catch {
                            watch.bucket.connection.logger.error(
                                "skipping a KV value that does not decode",
                                metadata: ["bucket": "\(bucket)", "key": "\(key)", "revision": "\(rev)", "error": "\(error)"])
                            continue
                        }
                    }
                }
            }
            return nil
        }
    }
}

/// One read from a nats.c KV watcher.
enum WatchStep: Sendable {
    case change(String, UInt64, kvOperation, Data)
    case marker, timeout, stopped
}
