import Foundation

/// An empty config or credentials object.
public struct NoConfig: Decodable, Sendable {
    public init() {}
}

/// What every provider declares. A provider is a plain Swift class or struct that
/// conforms to one or more of ``SourceProvider``, ``SinkProvider``,
/// ``TransformProvider``, ``EmbeddingProvider`` and ``CompletionProvider``
/// (e.g. a files provider that is both a source and a sink of objects).
///
/// The host creates one instance per connection/run, from the JSON config
/// (validated against ``configSchema`` first) and credentials, and never calls one
/// instance from two threads at once.
public protocol Provider {
    associatedtype Config: Decodable = NoConfig
    associatedtype Credentials: Decodable = NoConfig

    /// Unique within the plugin, e.g. `"files"` (addressed as `plugin/files`).
    static var name: String { get }
    /// One sentence for people.
    static var description: String { get }
    /// What a source or transform produces, or what a sink accepts.
    static var dataType: DataType { get }
    /// JSON Schema of ``Config``.
    static var configSchema: String { get }
    /// JSON Schema of ``Credentials``, or nil when there are none.
    static var credentialsSchema: String? { get }

    init(config: Config, credentials: Credentials) throws
    /// Check that what the provider talks to is reachable (default: nothing to check).
    func check(_ context: CallContext) throws
}

extension Provider {
    public static var description: String { "" }
    public static var configSchema: String { #"{"type":"object"}"# }
    public static var credentialsSchema: String? { nil }
    public func check(_ context: CallContext) throws {}
}

/// A cursor over items, pulled in batches.
public protocol ItemCursor: AnyObject {
    /// Up to `max` next items; an empty array means the end.
    func next(max: Int, context: CallContext) throws -> [Item]
}

/// Produces items, resumable after an item's resume token.
public protocol SourceProvider: Provider {
    /// A cursor that starts after `resumeToken` (nil: from the beginning).
    func read(after resumeToken: Data?, context: CallContext) throws -> any ItemCursor
}

/// Accepts batches of items.
public protocol SinkProvider: Provider {
    /// Write durably. The host may resend a batch after a crash: be idempotent where you can.
    func write(_ items: [Item], context: CallContext) throws
}

/// Turns a batch of input items into a stream of output items.
public protocol TransformProvider: Provider {
    /// What the transform accepts (``Provider/dataType`` is what it produces).
    static var inputDataType: DataType { get }
    func transform(_ items: [Item], context: CallContext) throws -> any ItemCursor
}

/// Embeds texts.
public protocol EmbeddingProvider: Provider {
    /// One vector per text, all of the same dimension.
    func embed(_ texts: [String], context: CallContext) throws -> [[Float]]
}

/// Completes a chat request (`{"messages": [...], ...}`), streaming tokens.
public protocol CompletionProvider: Provider {
    /// Call `onToken` as tokens arrive; return the final response JSON object.
    func complete(_ request: JSON, context: CallContext, onToken: (String) -> Void) throws -> JSON
}

/// A cursor over an array or any sequence of items.
public final class SequenceCursor<S: Sequence>: ItemCursor where S.Element == Item {
    private var iterator: S.Iterator

    public init(_ sequence: S) { iterator = sequence.makeIterator() }

    public func next(max: Int, context: CallContext) throws -> [Item] {
        var out: [Item] = []
        out.reserveCapacity(Swift.min(max, 1024))
        while out.count < max, let item = iterator.next() { out.append(item) }
        return out
    }
}

/// A cursor from a closure that returns the next item or nil at the end.
public final class ClosureCursor: ItemCursor {
    private let produce: (CallContext) throws -> Item?
    private var done = false

    public init(_ produce: @escaping (CallContext) throws -> Item?) { self.produce = produce }

    public func next(max: Int, context: CallContext) throws -> [Item] {
        var out: [Item] = []
        while !done, out.count < max {
            if let item = try produce(context) { out.append(item) } else { done = true }
        }
        return out
    }
}
