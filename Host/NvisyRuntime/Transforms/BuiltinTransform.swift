import Foundation
import NvisyCore
import NvisyPlugins

/// A transform built into the host (`map`, `filter`, `chunk`, …), run by the executor in-process.
///
/// Semantics are item at a time: for a batch of inputs it answers, per input, either the
/// outputs derived from that input (zero, one or many) or that input's error. The executor
/// retries an input whose error is transient, and records one whose error is permanent.
public protocol BuiltinTransform: Sendable {
    func apply(_ items: [ProviderItem]) async -> [Result<[ProviderItem], NvisyError>]
    /// ``apply(_:)``, calling `called` as soon as the outside work is done (a model has answered)
    /// and only making the outputs is left: a gathering node then starts the next batch's call
    /// while this one's outputs are made and passed on, so the model does not wait for them.
    /// The default calls it when `apply(_:)` returns. The executor's retries of transient
    /// failures come after `called`, so a retry may run beside the next batch's call.
    func apply(_ items: [ProviderItem], called: @Sendable () -> Void) async -> [Result<[ProviderItem], NvisyError>]
    /// Releases what the transform holds (a model provider's instance) when the run ends.
    func close() async
    /// Items per call the transform works best with (a model's batch), or nil: the executor
    /// then gathers smaller input batches up to it (see `NodeRunner.runGatheringBuiltin`).
    var preferredBatchSize: Int? { get }
}

extension BuiltinTransform {
    public func apply(_ items: [ProviderItem], called: @Sendable () -> Void) async -> [Result<[ProviderItem], NvisyError>] {
        let results = await apply(items)
        called()
        return results
    }

    public func close() async {}
    public var preferredBatchSize: Int? { nil }
}

/// How a built-in is checked and made: its name, the data types it takes and makes, and a
/// factory that validates `params` (problems carry pointers under the node's `/params`).
public struct BuiltinTransformSpec: Sendable {
    public typealias Factory = @Sendable (_ params: JSONValue, _ context: BuiltinContext) async
        -> Result<any BuiltinTransform, BuiltinParamErrors>

    public var name: String
    /// What it accepts; nil: any data type.
    public var accepts: Set<ProviderDataType>?
    /// What it produces; nil: the same type as its input.
    public var produces: ProviderDataType?
    public var make: Factory

    public init(name: String, accepts: Set<ProviderDataType>?, produces: ProviderDataType?, make: @escaping Factory) {
        self.name = name
        self.accepts = accepts
        self.produces = produces
        self.make = make
    }
}

/// What a built-in's factory may use: the provider registry and the connections (for built-ins
/// that call a model through a connection, such as a future `embed`).
public struct BuiltinContext: Sendable {
    public var host: PluginHost
    public var connections: any ConnectionResolver
    /// The node's `/params` pointer, to prefix problems with.
    public var pointer: String
}

/// Problems in a built-in's params: (pointer relative to the node, message).
public struct BuiltinParamErrors: Error, Sendable {
    public var errors: [(pointer: String, message: String)]
    public init(_ errors: [(pointer: String, message: String)]) { self.errors = errors }
    public init(_ pointer: String, _ message: String) { self.errors = [(pointer, message)] }
}

/// The built-in transforms a compiler knows. ``standard`` has `map`, `filter` and `chunk`, and
/// the model built-ins `embed` (an embedding provider through a connection), `summarize` and
/// `extract` (a completion provider through a connection).
public struct BuiltinTransformCatalog: Sendable {
    public private(set) var specs: [String: BuiltinTransformSpec] = [:]
    /// Names reserved for built-ins not available in this host, with why.
    public var reserved: [String: String] = [:]

    public init(_ specs: [BuiltinTransformSpec] = []) {
        for s in specs { register(s) }
    }

    public mutating func register(_ spec: BuiltinTransformSpec) {
        specs[spec.name] = spec
        reserved[spec.name] = nil
    }

    /// `map`, `filter`, `chunk`, `embed`, `summarize` and `extract`.
    public static let standard = BuiltinTransformCatalog([
        MapTransform.spec, FilterTransform.spec, ChunkTransform.spec, EmbedTransform.spec,
        CompletionTransform.spec(.summarize), CompletionTransform.spec(.extract),
    ])
}

extension ProviderItem {
    /// The metadata as JSON; an error that names the item when it is not JSON.
    func jsonMetadata() throws(NvisyError) -> JSONValue {
        do { return try metadataValue() } catch {
            throw NvisyError.invalidInput("item \(resumeTokenString) has metadata that is not JSON")
        }
    }

    /// This item with `value` as its metadata (kept parsed: see ``ProviderItem/init(metadata:payload:vector:resumeToken:)``).
    func with(metadata value: JSONValue) -> ProviderItem {
        ProviderItem(metadata: value, payload: payload, vector: vector, resumeToken: resumeToken)
    }
}
