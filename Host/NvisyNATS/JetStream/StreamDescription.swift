/// A JetStream stream, described in Swift; ``JetStream/ensureStream(_:)`` creates
/// it or brings an existing one up to date.
public struct StreamDescription: Sendable, Hashable {
    /// When the stream removes messages.
    public enum Retention: Sendable, Hashable {
        /// Keep messages until a limit (age, count, bytes) removes them.
        case limits
        /// Remove a message once one consumer acknowledged it (a job queue).
        case workQueue
        /// Remove a message once every consumer acknowledged it.
        case interest
    }

    /// Where the stream keeps its messages.
    public enum Storage: Sendable, Hashable {
        case file, memory
    }

    /// The stream's name: letters, digits, `-` and `_`.
    public var name: String
    /// The subjects it captures (wildcards `*` and `>` allowed).
    public var subjects: [String]
    public var retention: Retention
    /// Messages older than this are removed; `nil` keeps them forever.
    public var maxAge: Duration?
    public var storage: Storage
    /// Copies kept in a cluster (1 on a single server).
    public var replicas: Int
    /// How long the server remembers `Nats-Msg-Id`s to drop duplicates (server default: 2 minutes).
    public var duplicateWindow: Duration?
    /// At most this many messages (oldest removed first); `nil` for no limit.
    public var maxMessages: Int64?
    /// At most this many bytes; `nil` for no limit.
    public var maxBytes: Int64?
    public var description: String?

    public init(
        name: String,
        subjects: [String],
        retention: Retention = .limits,
        maxAge: Duration? = nil,
        storage: Storage = .file,
        replicas: Int = 1,
        duplicateWindow: Duration? = nil,
        maxMessages: Int64? = nil,
        maxBytes: Int64? = nil,
        description: String? = nil
    ) {
        self.name = name
        self.subjects = subjects
        self.retention = retention
        self.maxAge = maxAge
        self.storage = storage
        self.replicas = replicas
        self.duplicateWindow = duplicateWindow
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.description = description
    }
}

/// A message type that belongs to one stream and is published on one subject.
///
/// The type decides both, so a value can only ever be published where its
/// consumers expect it:
///
/// ```swift
/// struct RunQueued: StreamMessage {
///     static let stream = StreamDescription(name: "RUNS", subjects: ["runs.>"], retention: .workQueue)
///     static let subject = "runs.queued"
///     var runId: UUID
/// }
/// try await js.publish(RunQueued(runId: id), messageID: id.uuidString)
/// ```
public protocol StreamMessage: Codable, Sendable {
    /// The stream that stores messages of this type.
    static var stream: StreamDescription { get }
    /// The subject messages of this type are published on (inside `stream.subjects`).
    static var subject: String { get }
}

/// What the server reported about a stream.
public struct StreamInfo: Sendable, Hashable {
    public var name: String
    /// Messages stored now.
    public var messages: UInt64
    public var bytes: UInt64
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    public var consumers: Int
}

/// The server's acknowledgement of a publish: the message is stored.
public struct PublishAck: Sendable, Hashable {
    public var stream: String
    public var sequence: UInt64
    /// True when the server had already stored a message with the same `Nats-Msg-Id`
    /// (inside the stream's duplicate window) and dropped this one.
    public var duplicate: Bool
}
