import CNats
import Foundation
import Logging
import NvisyCore

/// How a durable pull consumer delivers and redelivers.
public struct ConsumerOptions: Sendable, Hashable {
    /// How long the server waits for an ack before it redelivers.
    public var ackWait: Duration
    /// Deliveries per message before the server gives up on it; `nil` for no limit.
    public var maxDeliver: Int?
    /// Messages delivered but not yet acknowledged, at most.
    public var maxAckPending: Int
    /// Messages asked for per fetch.
    public var batchSize: Int
    /// How long one fetch waits for messages; also bounds how late a cancelled
    /// iteration notices the cancellation.
    public var fetchWait: Duration
    /// Only messages on this subject; defaults to the message type's subject.
    public var filterSubject: String?

    public init(
        ackWait: Duration = .seconds(30), maxDeliver: Int? = 5, maxAckPending: Int = 1000,
        batchSize: Int = 64, fetchWait: Duration = .seconds(1), filterSubject: String? = nil
    ) {
        self.ackWait = ackWait
        self.maxDeliver = maxDeliver
        self.maxAckPending = maxAckPending
        self.batchSize = batchSize
        self.fetchWait = fetchWait
        self.filterSubject = filterSubject
    }
}

extension JetStream {
    /// Creates (or updates) the durable pull consumer `durable` on `M.stream` and
    /// subscribes to it. Iterate the result to receive messages; each must be
    /// acknowledged (``JetStreamMessage/ack()``) or it is delivered again after
    /// ``ConsumerOptions/ackWait``.
    ///
    /// - Throws: `notFound` if the stream does not exist, `invalidInput` for a bad name.
    public func consumer<M: StreamMessage>(
        _ type: M.Type, durable: String, options: ConsumerOptions = ConsumerOptions()
    ) async throws -> PullConsumer<M> {
        try Validate.consumerName(durable)
        let stream = M.stream.name
        let filter = options.filterSubject ?? M.subject
        let connection = self.connection
        let js = self.js
        let sub: CHandle = try await Blocking.run {
            let strings = CStrings()
            var cfg = jsConsumerConfig()
            jsConsumerConfig_Init(&cfg)
            cfg.Durable = strings.make(durable)
            cfg.AckPolicy = js_AckExplicit
            cfg.AckWait = options.ackWait.nanoseconds
            cfg.MaxDeliver = Int64(options.maxDeliver ?? -1)
            cfg.MaxAckPending = Int64(options.maxAckPending)
            cfg.FilterSubject = strings.make(filter)
            cfg.DeliverPolicy = js_DeliverAll
            var ci: UnsafeMutablePointer<jsConsumerInfo>?
            var err = jsErrCode(rawValue: 0)
            var s = js_AddConsumer(&ci, js.raw, stream, &cfg, nil, &err)
            if s != NATS_OK && err != JSStreamNotFoundErr && s != NATS_NOT_FOUND {
                // It exists with another configuration: bring it up to date.
                err = jsErrCode(rawValue: 0)
                s = js_UpdateConsumer(&ci, js.raw, stream, &cfg, nil, &err)
            }
            if s == NATS_NOT_FOUND || err == JSStreamNotFoundErr {
                throw NvisyError.notFound("stream \(stream) does not exist; create it with ensureStream(for: \(M.self).self)")
            }
            try NATSStatus.check(s, "create consumer \(durable) on stream \(stream)", jsErr: err)
            jsConsumerInfo_Destroy(ci)

            var subOpts = jsSubOptions()
            jsSubOptions_Init(&subOpts)
            subOpts.Stream = strings.make(stream)
            subOpts.Consumer = strings.make(durable)
            var sub: OpaquePointer?
            err = jsErrCode(rawValue: 0)
            s = js_PullSubscribe(&sub, js.raw, filter, durable, nil, &subOpts, &err)
            try NATSStatus.check(s, "subscribe to consumer \(durable) on stream \(stream)", jsErr: err)
            return CHandle(sub!)
        }
        return PullConsumer(
            raw: RawPullSubscription(sub: sub, connection: connection, what: "consumer \(durable) on stream \(stream)"),
            options: options, durable: durable, logger: connection.logger)
    }

    /// Deletes a durable consumer; `notFound` if it does not exist.
    public func deleteConsumer(stream: String, durable: String) async throws {
        try Validate.streamName(stream)
        try Validate.consumerName(durable)
        let js = self.js
        try await Blocking.run {
            var err = jsErrCode(rawValue: 0)
            let s = js_DeleteConsumer(js.raw, stream, durable, nil, &err)
            if s == NATS_NOT_FOUND || err == JSConsumerNotFoundErr || err == JSStreamNotFoundErr {
                throw NvisyError.notFound("consumer \(durable) on stream \(stream) does not exist")
            }
            try NATSStatus.check(s, "delete consumer \(durable) on stream \(stream)", jsErr: err)
        }
    }
}

/// A durable pull consumer of `M` messages: an `AsyncSequence` that never ends
/// on its own (it waits for new messages) and stops when the task is cancelled.
///
/// A message whose payload does not decode as `M` is terminated (`+TERM`, so it
/// is never delivered again) and logged once; the sequence goes on.
public final class PullConsumer<M: StreamMessage>: AsyncSequence, Sendable {
    public typealias Element = JetStreamMessage<M>

    let raw: RawPullSubscription
    public let options: ConsumerOptions
    /// The durable consumer's name.
    public let durable: String
    let logger: Logger

    init(raw: RawPullSubscription, options: ConsumerOptions, durable: String, logger: Logger) {
        self.raw = raw
        self.options = options
        self.durable = durable
        self.logger = logger
    }

    /// Fetches at most `max` messages, waiting at most `wait` for the first.
    /// Returns an empty array if none arrived.
    public func fetch(max: Int, wait: Duration) async throws -> [JetStreamMessage<M>] {
        switch try await raw.fetch(batch: max, wait: wait) {
        case .empty: return []
        case .retryLater(let why):
            throw NvisyError.unavailable("fetch from \(raw.what): \(why)")
        case .messages(let msgs):
            return await decode(msgs)
        }
    }

    func decode(_ msgs: [CHandle]) async -> [JetStreamMessage<M>] {
        var out: [JetStreamMessage<M>] = []
        out.reserveCapacity(msgs.count)
        let decoder = JSONDecoder()
        for m in msgs {
            let env = MessageEnvelope(msg: m, owner: raw)
            do {
                let value = try decoder.decode(M.self, from: env.data)
                out.append(JetStreamMessage(value: value, envelope: env))
            } catch {
                logger.error(
                    "terminating a message that does not decode as \(M.self)",
                    metadata: ["consumer": "\(durable)", "subject": "\(env.subject)",
                               "sequence": "\(env.streamSequence)", "error": "\(error)"])
                try? await env.term()
            }
        }
        return out
    }

    /// Stops this subscription (the durable consumer and its state stay on the server).
    public func close() async {
        await raw.unsubscribe()
    }

    public func makeAsyncIterator() -> Iterator { Iterator(consumer: self) }

    public struct Iterator: AsyncIteratorProtocol {
        let consumer: PullConsumer<M>
        var buffer: [JetStreamMessage<M>] = []
        var index = 0

        public mutating func next() async throws -> JetStreamMessage<M>? {
            while true {
                if index < buffer.count {
                    let m = buffer[index]
                    index += 1
                    return m
                }
                buffer = []
                index = 0
                if Task.isCancelled { return nil }
                switch try await consumer.raw.fetch(batch: consumer.options.batchSize, wait: consumer.options.fetchWait) {
                case .empty:
                    continue
                case .retryLater(let why):
                    consumer.logger.debug("fetch will be retried", metadata: ["consumer": "\(consumer.durable)", "reason": "\(why)"])
                    try? await Task.sleep(for: .milliseconds(250))
                case .messages(let msgs):
                    buffer = await consumer.decode(msgs)
                }
            }
        }
    }
}

/// One delivered message and its acknowledgement. Exactly one of ``ack()``,
/// ``nak(delay:)`` or ``term()`` settles it; ``inProgress()`` may come before, any number of times.
public struct JetStreamMessage<M: StreamMessage>: Sendable {
    /// The decoded payload.
    public let value: M
    let envelope: MessageEnvelope

    init(value: M, envelope: MessageEnvelope) {
        self.value = value
        self.envelope = envelope
    }

    public var subject: String { envelope.subject }
    /// The message's sequence in its stream.
    public var streamSequence: UInt64 { envelope.streamSequence }
    /// 1 for the first delivery, 2 for the first redelivery, ...
    public var deliveryCount: UInt64 { envelope.deliveryCount }
    /// The `Nats-Msg-Id` it was published with, if any.
    public var messageID: String? { envelope.header("Nats-Msg-Id") }

    /// Acknowledges the message and waits until the server confirms it.
    public func ack() async throws { try await envelope.ack() }
    /// Gives the message back: the server delivers it again after `delay` (now if `nil`).
    public func nak(delay: Duration? = nil) async throws { try await envelope.nak(delay: delay) }
    /// Tells the server work is still going on: restarts the ack wait.
    public func inProgress() async throws { try await envelope.inProgress() }
    /// Tells the server never to deliver this message again.
    public func term() async throws { try await envelope.term() }
}

/// Owns one nats.c message received from a JetStream consumer.
///
/// `@unchecked Sendable`: `msg` never changes; every call into nats.c that uses it
/// (acks) runs under `state`'s lock, so two threads never use the message at once;
/// `owner` keeps the subscription the message refers to alive; the message is
/// destroyed only in deinit.
final class MessageEnvelope: @unchecked Sendable {
    let msg: CHandle
    let owner: RawPullSubscription
    let subject: String
    let data: Data
    let streamSequence: UInt64
    let deliveryCount: UInt64
    private let state = Locked<Bool>(false) // settled

    init(msg: CHandle, owner: RawPullSubscription) {
        self.msg = msg
        self.owner = owner
        subject = String(cString: natsMsg_GetSubject(msg.raw))
        let len = Int(natsMsg_GetDataLength(msg.raw))
        if len > 0, let p = natsMsg_GetData(msg.raw) {
            data = Data(bytes: p, count: len)
        } else {
            data = Data()
        }
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        if natsMsg_GetMetaData(&meta, msg.raw) == NATS_OK, let meta {
            streamSequence = meta.pointee.Sequence.Stream
            deliveryCount = meta.pointee.NumDelivered
            jsMsgMetaData_Destroy(meta)
        } else {
            streamSequence = 0
            deliveryCount = 1
        }
    }

    deinit { natsMsg_Destroy(msg.raw) }

    func header(_ key: String) -> String? {
        var v: UnsafePointer<CChar>?
        guard natsMsgHeader_Get(msg.raw, key, &v) == NATS_OK, let v else { return nil }
        return String(cString: v)
    }

    private func settle(_ what: String, final: Bool, _ body: @escaping @Sendable (OpaquePointer) -> natsStatus) async throws {
        let msg = self.msg
        let state = self.state
        let subject = self.subject
        try await Blocking.run {
            try state.withLock { settled in
                if settled {
                    throw NvisyError.conflict("cannot \(what) message \(subject): it was already acknowledged, nak'ed or terminated")
                }
                try NATSStatus.check(body(msg.raw), "\(what) message on \(subject)")
                if final { settled = true }
            }
        }
    }

    func ack() async throws { try await settle("ack", final: true) { natsMsg_AckSync($0, nil, nil) } }
    func nak(delay: Duration?) async throws {
        let ns = delay?.nanoseconds ?? 0
        try await settle("nak", final: true) { ns > 0 ? natsMsg_NakWithDelay($0, ns / 1_000_000, nil) : natsMsg_Nak($0, nil) }
    }
    func inProgress() async throws { try await settle("mark in progress", final: false) { natsMsg_InProgress($0, nil) } }
    func term() async throws { try await settle("terminate", final: true) { natsMsg_Term($0, nil) } }
}
