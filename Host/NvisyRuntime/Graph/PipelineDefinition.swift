import NvisyCore

/// A pipeline as users write it: a JSON graph of nodes and edges (camelCase keys).
///
/// ```json
/// {"nodes": [
///    {"id": "in",   "kind": "source",    "connection": "0190…"},
///    {"id": "csv",  "kind": "transform", "transform": "formats/csv"},
///    {"id": "keep", "kind": "transform", "transform": "filter", "params": {"where": {">=": [{"var": "/age"}, 18]}}},
///    {"id": "out",  "kind": "sink",      "connection": "0190…"}],
///  "edges": [{"from": "in", "to": "csv"}, {"from": "csv", "to": "keep"}, {"from": "keep", "to": "out"}]}
/// ```
///
/// ``PipelineCompiler`` checks it and turns it into an ``ExecutionPlan``.
public struct PipelineDefinition: Sendable, Hashable, Codable {
    public var nodes: [Node]
    public var edges: [Edge]

    public init(nodes: [Node], edges: [Edge]) {
        self.nodes = nodes
        self.edges = edges
    }

    /// What a node does.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Reads items from a connection (a source provider). No inputs.
        case source
        /// Changes items: a built-in (`map`, `filter`, `chunk`, …) or a transform provider (`formats/csv`).
        case transform
        /// Writes items to a connection (a sink provider). No outputs.
        case sink
        /// Routes each item to the port of the first case whose predicate holds (else `default`).
        case `switch`
    }

    /// One node of the graph.
    public struct Node: Sendable, Hashable, Codable {
        /// Unique within the pipeline; named in every compiler problem.
        public var id: String
        public var kind: Kind
        /// Sources and sinks: the connection (id) to read from or write to.
        public var connection: String?
        /// Transforms: a built-in name (`map`, `filter`, `chunk`) or a provider `plugin/provider`.
        public var transform: String?
        /// Transforms: the built-in's parameters or the transform provider's config.
        public var params: JSONValue?
        /// Switches: the cases, tried in order.
        public var cases: [SwitchCase]?

        public init(id: String, kind: Kind, connection: String? = nil, transform: String? = nil,
                    params: JSONValue? = nil, cases: [SwitchCase]? = nil) {
            self.id = id
            self.kind = kind
            self.connection = connection
            self.transform = transform
            self.params = params
            self.cases = cases
        }

        public static func source(_ id: String, connection: String) -> Node { Node(id: id, kind: .source, connection: connection) }
        public static func sink(_ id: String, connection: String) -> Node { Node(id: id, kind: .sink, connection: connection) }
        public static func transform(_ id: String, _ transform: String, params: JSONValue? = nil) -> Node {
            Node(id: id, kind: .transform, transform: transform, params: params)
        }
        public static func `switch`(_ id: String, cases: [SwitchCase]) -> Node { Node(id: id, kind: .switch, cases: cases) }
    }

    /// A switch case: items whose metadata satisfies `when` leave through `port`.
    /// Items that match no case leave through the port `default` (dropped when it is not connected).
    public struct SwitchCase: Sendable, Hashable, Codable {
        public var port: String
        /// A predicate (see ``Predicate``).
        public var when: JSONValue

        public init(port: String, when: JSONValue) {
            self.port = port
            self.when = when
        }
    }

    /// A directed edge; `port` names the switch port it leaves from (only for edges out of a switch).
    public struct Edge: Sendable, Hashable, Codable {
        public var from: String
        public var to: String
        public var port: String?

        public init(from: String, to: String, port: String? = nil) {
            self.from = from
            self.to = to
            self.port = port
        }
    }
}
