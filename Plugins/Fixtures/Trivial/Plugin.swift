import Foundation
import NvisyPluginKit

#if canImport(Glibc)
import Glibc
#endif

// A test and benchmark fixture: the cheapest possible providers, plus one that
// blocks until the host cancels it. Not in plugins.d/.

@_cdecl("nvisy_plugin_entry")
public func nvisyPluginEntry(_ host: UnsafeRawPointer?) -> UnsafeRawPointer? {
    export(host, plugin: "trivial", version: "0.1.0", Counter.self, Discard.self, Slow.self, Echo.self, Chat.self)
}

/// `trivial/counter`: `count` items with a `payloadSize`-byte payload; token = index.
public final class Counter: SourceProvider {
    public struct Config: Decodable, Sendable {
        public var count: Int
        public var payloadSize: Int?
        public init(count: Int, payloadSize: Int? = nil) { self.count = count; self.payloadSize = payloadSize }
    }
    public static let name = "counter"
    public static let dataType = DataType.object
    public static let configSchema = #"{"type":"object","required":["count"],"properties":{"count":{"type":"integer","minimum":0},"payloadSize":{"type":"integer","minimum":0}}}"#
    let config: Config
    let payload: Data
    static let metadata = Data(#"{"path":"item"}"#.utf8)

    public init(config: Config, credentials: NoConfig) throws {
        self.config = config
        payload = Data(repeating: 7, count: config.payloadSize ?? 16)
    }

    public func read(after resumeToken: Data?, context: CallContext) throws -> any ItemCursor {
        let start = resumeToken.flatMap { Int(String(decoding: $0, as: UTF8.self)) }.map { $0 + 1 } ?? 0
        return CounterCursor(next: start, end: config.count, payload: payload)
    }
}

public final class CounterCursor: ItemCursor {
    var next: Int
    let end: Int
    let payload: Data
    init(next: Int, end: Int, payload: Data) { self.next = next; self.end = end; self.payload = payload }

    public func next(max: Int, context: CallContext) throws -> [Item] {
        let n = Swift.min(max, end - next)
        guard n > 0 else { return [] }
        var out: [Item] = []
        out.reserveCapacity(n)
        for i in next..<(next + n) {
            out.append(Item(metadataJSON: Counter.metadata, payload: payload, resumeToken: Data(String(i).utf8)))
        }
        next += n
        return out
    }
}

/// `trivial/discard`: counts what it is given. With `expectItems`/`expectBytes`, `check`
/// fails unless exactly that many items and payload bytes arrived (so a benchmark can prove
/// the sink really received everything).
public final class Discard: SinkProvider {
    public struct Config: Decodable, Sendable {
        public var expectItems: Int?
        public var expectBytes: Int?
        public init(expectItems: Int? = nil, expectBytes: Int? = nil) { self.expectItems = expectItems; self.expectBytes = expectBytes }
    }
    public static let name = "discard"
    public static let dataType = DataType.object
    public static let configSchema = #"{"type":"object","properties":{"expectItems":{"type":"integer","minimum":0},"expectBytes":{"type":"integer","minimum":0}}}"#
    public private(set) var items = 0
    public private(set) var bytes = 0
    let config: Config
    public init(config: Config, credentials: NoConfig) throws { self.config = config }

    public func check(_ context: CallContext) throws {
        if let n = config.expectItems, n != items { throw PluginError.permanent("discard received \(items) items, expected \(n)") }
        if let n = config.expectBytes, n != bytes { throw PluginError.permanent("discard received \(bytes) payload bytes, expected \(n)") }
    }

    public func write(_ items: [Item], context: CallContext) throws {
        self.items += items.count
        for i in items { bytes += i.payload.count }
    }
}

/// `trivial/slow`: a sink whose write blocks until the host cancels it
/// (or `ignoreCancel`: sleeps `seconds` regardless).
public final class Slow: SinkProvider {
    public struct Config: Decodable, Sendable { var ignoreCancel: Bool?; var seconds: Double? }
    public static let name = "slow"
    public static let dataType = DataType.object
    let config: Config
    public init(config: Config, credentials: NoConfig) throws { self.config = config }

    public func write(_ items: [Item], context: CallContext) throws {
        let start = Date()
        while Date().timeIntervalSince(start) < (config.seconds ?? 60) {
            if config.ignoreCancel != true { try context.checkCancelled() }
            usleep(2_000)
        }
    }
}

/// `trivial/echo`: a transform that repeats each input `times` times; and embeds texts as [length, 1].
public final class Echo: TransformProvider, EmbeddingProvider {
    public struct Config: Decodable, Sendable { var times: Int? }
    public static let name = "echo"
    public static let dataType = DataType.object
    public static let inputDataType = DataType.object
    let times: Int
    public init(config: Config, credentials: NoConfig) throws { times = config.times ?? 1 }

    public func transform(_ items: [Item], context: CallContext) throws -> any ItemCursor {
        SequenceCursor(items.flatMap { Array(repeating: $0, count: times) })
    }

    public func embed(_ texts: [String], context: CallContext) throws -> [[Float]] {
        texts.map { [Float($0.count), 1] }
    }
}

/// `trivial/chat`: streams the last message back word by word.
public final class Chat: CompletionProvider {
    public static let name = "chat"
    public static let dataType = DataType.message
    public init(config: NoConfig, credentials: NoConfig) throws {}

    public func complete(_ request: JSON, context: CallContext, onToken: (String) -> Void) throws -> JSON {
        guard case .array(let messages)? = request["messages"], let last = messages.last?["content"]?.stringValue else {
            throw PluginError.invalidConfig("request needs messages[].content")
        }
        for word in last.split(separator: " ") { onToken(String(word) + " ") }
        return ["content": .string(last), "finishReason": "stop"]
    }
}
