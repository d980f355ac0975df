import CNats
import Foundation
import Logging
import NvisyCore

/// JetStream on one ``NATSConnection``: streams, typed publishing and pull
/// consumers, KV buckets (``keyValue(_:as:)``) and object stores (``objectStore(_:)``).
public struct JetStream: Sendable {
    public let connection: NATSConnection

    init(connection: NATSConnection) { self.connection = connection }

    var js: CHandle { connection.js }

    // MARK: Streams

    /// Creates the stream, or updates it to match `description` if it exists.
    @discardableResult
    public func ensureStream(_ description: StreamDescription) async throws -> StreamInfo {
        try Validate.streamName(description.name)
        let js = self.js
        let replicas = connection.replicas
        return try await Blocking.run {
            let strings = CStrings()
            var cfg = jsStreamConfig()
            jsStreamConfig_Init(&cfg)
            cfg.Name = strings.make(description.name)
            cfg.Description = strings.make(description.description)
            cfg.Subjects = strings.array(description.subjects)
            cfg.SubjectsLen = Int32(description.subjects.count)
            cfg.Retention = switch description.retention {
            case .limits: js_LimitsPolicy
            case .workQueue: js_WorkQueuePolicy
            case .interest: js_InterestPolicy
            }
            cfg.Storage = description.storage == .file ? js_FileStorage : js_MemoryStorage
            cfg.Replicas = Int64(max(description.replicas, replicas))
            if let maxAge = description.maxAge { cfg.MaxAge = maxAge.nanoseconds }
            if let window = description.duplicateWindow { cfg.Duplicates = window.nanoseconds }
            if let m = description.maxMessages { cfg.MaxMsgs = m }
            if let b = description.maxBytes { cfg.MaxBytes = b }
            return try Self.addOrUpdate(js: js, config: &cfg, name: description.name)
        }
    }

    /// Adds the stream, or updates it when the name is taken. Runs on a blocking thread.
    static func addOrUpdate(js: CHandle, config cfg: inout jsStreamConfig, name: String) throws -> StreamInfo {
        var si: UnsafeMutablePointer<jsStreamInfo>?
        var err = jsErrCode(rawValue: 0)
        var s = js_AddStream(&si, js.raw, &cfg, nil, &err)
        if s != NATS_OK && err == JSStreamNameExistErr {
            err = jsErrCode(rawValue: 0)
            s = js_UpdateStream(&si, js.raw, &cfg, nil, &err)
        }
        try NATSStatus.check(s, "create or update stream \(name)", jsErr: err)
        defer { jsStreamInfo_Destroy(si) }
        return StreamInfo(si!)
    }

    /// Creates or updates the stream of message type `M`.
    @discardableResult
    public func ensureStream<M: StreamMessage>(for type: M.Type) async throws -> StreamInfo {
        try await ensureStream(M.stream)
    }

    /// The stream's current state; `notFound` if there is no such stream.
    public func streamInfo(_ name: String) async throws -> StreamInfo {
        try Validate.streamName(name)
        let js = self.js
        return try await Blocking.run {
            var si: UnsafeMutablePointer<jsStreamInfo>?
            var err = jsErrCode(rawValue: 0)
            let s = js_GetStreamInfo(&si, js.raw, name, nil, &err)
            if s == NATS_NOT_FOUND || err == JSStreamNotFoundErr {
                throw NvisyError.notFound("stream \(name) does not exist")
            }
            try NATSStatus.check(s, "stream info for \(name)", jsErr: err)
            defer { jsStreamInfo_Destroy(si) }
            return StreamInfo(si!)
        }
    }

    /// Deletes the stream and all its messages; `notFound` if there is none.
    public func deleteStream(_ name: String) async throws {
        try Validate.streamName(name)
        let js = self.js
        try await Blocking.run {
            var err = jsErrCode(rawValue: 0)
            let s = js_DeleteStream(js.raw, name, nil, &err)
            if s == NATS_NOT_FOUND || err == JSStreamNotFoundErr {
                throw NvisyError.notFound("stream \(name) does not exist")
            }
            try NATSStatus.check(s, "delete stream \(name)", jsErr: err)
        }
    }

    // MARK: Publishing

    /// Publishes `value` on `M.subject` and waits for the stream to store it.
    ///
    /// - Parameter messageID: sent as `Nats-Msg-Id`; the server drops a second
    ///   message with the same id inside the stream's duplicate window (the ack
    ///   then says ``PublishAck/duplicate``). Use it to make retries safe.
    /// - Throws: `notFound` if `M.stream` does not exist (call ``ensureStream(for:)``),
    ///   `unavailable` (transient) while NATS is unreachable.
    @discardableResult
    public func publish<M: StreamMessage>(_ value: M, messageID: String? = nil) async throws -> PublishAck {
        let data: [UInt8]
        do {
            data = Array(try JSONEncoder().encode(value))
        } catch {
            throw NvisyError.invalidInput("cannot encode \(M.self) as JSON: \(error)")
        }
        return try await publish(subject: M.subject, data: data, messageID: messageID, expectStream: M.stream.name)
    }

    /// Publishes raw bytes (internal: typed callers use ``publish(_:messageID:)``).
    func publish(subject: String, data: [UInt8], headers: [(String, String)] = [], messageID: String? = nil,
                 expectStream: String? = nil) async throws -> PublishAck {
        let js = self.js
        let timeout = connection.requestTimeout.milliseconds
        // While reconnecting, nats.c would buffer the message and wait out the
        // whole timeout for an ack that cannot come: fail at once instead.
        guard connection.isConnected else {
            throw NvisyError.unavailable("publish to \(subject): NATS at \(connection.url) is disconnected; reconnecting")
        }
        return try await Blocking.run {
            try Self.publishSync(js: js, subject: subject, data: data, headers: headers, messageID: messageID,
                                 expectStream: expectStream, timeoutMS: timeout)
        }
    }

    static func publishSync(js: CHandle, subject: String, data: [UInt8], headers: [(String, String)], messageID: String?,
                            expectStream: String?, timeoutMS: Int64) throws -> PublishAck {
        var msg: OpaquePointer?
        var s = data.withUnsafeBufferPointer { buf in
            natsMsg_Create(&msg, subject, nil, buf.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, Int32(buf.count))
        }
        try NATSStatus.check(s, "publish to \(subject)")
        defer { natsMsg_Destroy(msg) }
        for (k, v) in headers { natsMsgHeader_Set(msg, k, v) }
        let strings = CStrings()
        var opts = jsPubOptions()
        jsPubOptions_Init(&opts)
        opts.MaxWait = timeoutMS
        opts.MsgId = strings.make(messageID)
        opts.ExpectStream = strings.make(expectStream)
        var ack: UnsafeMutablePointer<jsPubAck>?
        var err = jsErrCode(rawValue: 0)
        s = js_PublishMsg(&ack, js.raw, msg, &opts, &err)
        if s == NATS_NO_RESPONDERS {
            throw NvisyError(.notFound, "publish to \(subject): no stream captures this subject\(expectStream.map { " (expected stream \($0))" } ?? ""); create it first", retry: .transient)
        }
        try NATSStatus.check(s, "publish to \(subject)", jsErr: err)
        defer { jsPubAck_Destroy(ack) }
        let a = ack!.pointee
        return PublishAck(stream: String(cString: a.Stream), sequence: a.Sequence, duplicate: a.Duplicate)
    }
}

extension StreamInfo {
    init(_ si: UnsafeMutablePointer<jsStreamInfo>) {
        let i = si.pointee
        self.init(
            name: i.Config.map { String(cString: $0.pointee.Name) } ?? "",
            messages: i.State.Msgs, bytes: i.State.Bytes,
            firstSequence: i.State.FirstSeq, lastSequence: i.State.LastSeq,
            consumers: Int(i.State.Consumers))
    }
}

/// Name checks shared by streams, consumers, buckets and objects.
enum Validate {
    static func isToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }
    }

    static func streamName(_ name: String) throws {
        guard isToken(name) else {
            throw NvisyError.invalidInput("invalid stream name \"\(name)\": use letters, digits, - and _")
        }
    }

    static func consumerName(_ name: String) throws {
        guard isToken(name) else {
            throw NvisyError.invalidInput("invalid consumer name \"\(name)\": use letters, digits, - and _")
        }
    }

    static func bucketName(_ name: String) throws {
        guard isToken(name) else {
            throw NvisyError.invalidInput("invalid bucket name \"\(name)\": use letters, digits, - and _")
        }
    }
}
