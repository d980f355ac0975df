import Foundation
import NvisyCore

/// A live provider instance made from one config, whatever runtime runs it
/// (a dlopen'd Swift library, embedded Python, or code linked into the host).
///
/// Instances are used by one task at a time; calls that are not answered within
/// ``ProviderCallOptions/timeout`` are cancelled through the host API and throw a
/// transient ``NvisyError``. Close an instance when done; a reload never closes
/// instances that are in use.
public protocol ProviderInstance: AnyObject, Sendable {
    var descriptor: ProviderDescriptor { get }
    /// Checks that what the provider talks to is reachable.
    func check() async throws
    /// Releases the instance. Idempotent.
    func close() async
}

/// A cursor over the items a source or transform produces, pulled in batches.
public protocol BatchCursor: AnyObject, Sendable {
    /// Up to `maxItems` items, or nil at the end.
    func next(maxItems: Int) async throws -> [ProviderItem]?
    /// Releases the cursor (also when not drained). Idempotent, never blocks on the provider.
    func close()
}

/// Produces items; resumes after a resume token.
public protocol SourceInstance: ProviderInstance {
    func openCursor(after resumeToken: Data?) async throws -> any BatchCursor
    /// How many items are left after `resumeToken`, when the source can tell cheaply (for a
    /// run's ETA); nil when it cannot. Never throws: an estimate is not worth failing a run.
    func estimatedItems(after resumeToken: Data?) async -> Int?
}

extension SourceInstance {
    /// Sources that cannot count ahead say so.
    public func estimatedItems(after resumeToken: Data?) async -> Int? { nil }
}

/// Accepts batches; returns once the batch is durable.
public protocol SinkInstance: ProviderInstance {
    func write(_ items: [ProviderItem]) async throws
    /// Items per write this sink works best with, when a run sets no `sinkBatchSize`: the
    /// executor then gathers batches up to this many items per write. nil (the default): one
    /// write per batch received.
    var preferredWriteSize: Int? { get }
}

extension SinkInstance {
    /// Sinks without a preference take the batches as they come.
    public var preferredWriteSize: Int? { nil }
}

/// Turns one batch of input items into a stream of outputs.
public protocol TransformInstance: ProviderInstance {
    func transform(_ items: [ProviderItem]) async throws -> any BatchCursor
}

/// Embeds texts: one vector per text.
public protocol EmbeddingInstance: ProviderInstance {
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// Completes a chat request (`{"messages": [...]}`), streaming tokens to `onToken`.
public protocol CompletionInstance: ProviderInstance {
    func complete(_ request: JSONValue, onToken: @escaping @Sendable (String) -> Void) async throws -> JSONValue
}

extension SourceInstance {
    /// The source's items in batches of up to `batchSize`, starting after `resumeToken`.
    public func read(after resumeToken: Data? = nil, batchSize: Int = 64) -> ItemBatches {
        ItemBatches(batchSize: batchSize) { try await self.openCursor(after: resumeToken) }
    }
}

extension TransformInstance {
    /// The outputs for `items`, in batches of up to `batchSize`.
    public func outputs(of items: [ProviderItem], batchSize: Int = 64) -> ItemBatches {
        ItemBatches(batchSize: batchSize) { try await self.transform(items) }
    }

    /// All outputs for `items`.
    public func transformAll(_ items: [ProviderItem]) async throws -> [ProviderItem] {
        var out: [ProviderItem] = []
        for try await batch in outputs(of: items, batchSize: 1024) { out += batch }
        return out
    }
}

/// Call options for a provider instance.
public struct ProviderCallOptions: Sendable, Hashable {
    /// Where blocking provider calls run.
    public enum Isolation: Sendable, Hashable {
        /// On a thread of the instance's own (never on Swift's cooperative pool): a hung
        /// provider cannot stall the host, and a timeout is reported on time.
        case dedicatedThread
        /// On the calling task's thread: cheapest, for providers that never block long.
        case callerThread
    }

    /// How long one call may take; then the host cancels it (the provider sees
    /// `is_cancelled`) and reports a transient error. nil: no limit.
    public var timeout: Duration?
    public var isolation: Isolation

    public init(timeout: Duration? = .seconds(300), isolation: Isolation = .dedicatedThread) {
        self.timeout = timeout
        self.isolation = isolation
    }

    public static let `default` = ProviderCallOptions()
}
