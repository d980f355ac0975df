import NvisyCore

/// One thing wrong with a pipeline definition: which node, where (a JSON pointer into the
/// definition), what kind of problem, and a sentence saying what to do.
public struct PipelineProblem: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The class of problem, stable for clients and tests.
    public enum Code: String, Sendable, Hashable, Codable, CaseIterable {
        /// The definition has no nodes, or no source / no sink.
        case empty = "empty"
        /// Two nodes share an id, or a node id is empty.
        case duplicateNode = "duplicate-node"
        /// An edge names a node that does not exist.
        case unknownNode = "unknown-node"
        /// The graph has a cycle (the message names its nodes in order).
        case cycle = "cycle"
        /// A source has incoming edges.
        case sourceWithInputs = "source-with-inputs"
        /// A sink has outgoing edges.
        case sinkWithOutputs = "sink-with-outputs"
        /// A transform, switch or sink has no input.
        case missingInput = "missing-input"
        /// A source, transform or switch has no output (its items would go nowhere).
        case missingOutput = "missing-output"
        /// A node cannot be reached from any source.
        case unreachable = "unreachable"
        /// The data type an edge carries is not what its target accepts.
        case typeMismatch = "type-mismatch"
        /// A required field is missing or a field is not allowed for this kind of node.
        case invalidNode = "invalid-node"
        /// The connection does not exist.
        case unknownConnection = "unknown-connection"
        /// The provider (of a connection or a transform) is not loaded, disabled, or cannot act as this node.
        case providerUnavailable = "provider-unavailable"
        /// The config (connection config or transform params) fails the provider's schema or the built-in's rules.
        case invalidConfig = "invalid-config"
        /// A switch port has no edge, or an edge leaves a switch through a port it does not have.
        case switchPort = "switch-port"
    }

    public var code: Code
    /// The node concerned (nil for problems of the whole graph or of an edge between unknown nodes).
    public var nodeId: String?
    /// Where in the definition, e.g. `/nodes/2/params/where` or `/edges/4/to`.
    public var pointer: String
    public var message: String

    public init(_ code: Code, node: String?, pointer: String, _ message: String) {
        self.code = code
        self.nodeId = node
        self.pointer = pointer
        self.message = message
    }

    public var description: String { "\(pointer) [\(code.rawValue)]\(nodeId.map { " node \"\($0)\"" } ?? ""): \(message)" }
}

/// Every problem the compiler found, at once.
public struct PipelineCompileError: Error, Sendable, CustomStringConvertible {
    public var problems: [PipelineProblem]

    public init(problems: [PipelineProblem]) { self.problems = problems }

    public var description: String {
        "the pipeline has \(problems.count) problem(s): " + problems.map(\.description).joined(separator: "; ")
    }

    /// The same as an ``NvisyError`` (invalid input) with one field error per problem,
    /// for RFC 9457 `errors: [{pointer, message}]`.
    public var nvisyError: NvisyError {
        .invalidInput(description, fields: problems.map {
            NvisyError.FieldError(pointer: $0.pointer, message: ($0.nodeId.map { "node \"\($0)\": " } ?? "") + $0.message)
        })
    }
}
