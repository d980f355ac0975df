import NvisyCore
import NvisyPlugins

/// A compiled pipeline: its nodes in topological order, each with what it runs and where
/// its items go. Made by ``PipelineCompiler``; run by ``PipelineExecutor``.
///
/// A plan holds resolved connection credentials: keep it in memory only (store the
/// ``definition``, and compile again to run).
public struct ExecutionPlan: Sendable, CustomStringConvertible {
    /// The definition it was compiled from (what a run keeps as its snapshot).
    public let definition: PipelineDefinition
    /// Every node, sources first, each after all its inputs.
    public let steps: [Step]

    /// What one node runs.
    public enum Operation: Sendable {
        case source(provider: String, config: JSONValue, credentials: JSONValue?)
        case sink(provider: String, config: JSONValue, credentials: JSONValue?)
        /// A transform provider from the registry; `config` is the node's params with defaults applied.
        case providerTransform(provider: String, config: JSONValue)
        case builtin(name: String, transform: any BuiltinTransform)
        /// Cases in order: the first whose predicate holds decides the port; else `default`.
        case `switch`(cases: [(port: String, predicate: Predicate)])
    }

    /// Where a node's items go.
    public struct Output: Sendable, Hashable {
        /// For a switch: the port (a case's port or `default`); nil otherwise.
        public var port: String?
        public var to: String
    }

    public struct Step: Sendable {
        public var id: String
        public var kind: PipelineDefinition.Kind
        public var operation: Operation
        /// What it receives (nil for sources).
        public var inputType: ProviderDataType?
        /// What it emits (for sinks: what it writes).
        public var outputType: ProviderDataType
        /// Nodes feeding this one.
        public var inputs: [String]
        public var outputs: [Output]
    }

    public var sources: [Step] { steps.filter { $0.kind == .source } }
    public var sinks: [Step] { steps.filter { $0.kind == .sink } }
    public func step(_ id: String) -> Step? { steps.first { $0.id == id } }

    public var description: String {
        steps.map { s in
            let what: String
            switch s.operation {
            case .source(let p, _, _), .sink(let p, _, _), .providerTransform(let p, _): what = p
            case .builtin(let n, _): what = n
            case .switch(let c): what = "switch(\(c.map(\.port).joined(separator: ",")))"
            }
            return "\(s.id)[\(s.kind.rawValue) \(what) → \(s.outputType.rawValue)] → \(s.outputs.map { ($0.port.map { "\($0):" } ?? "") + $0.to }.joined(separator: ","))"
        }.joined(separator: "; ")
    }
}
