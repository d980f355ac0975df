import Foundation
import NvisyCore

/// One item as it moves between providers: plain bytes, whatever runtime made it.
///
/// `metadata` is UTF-8 JSON text (an object's attributes or a record), kept as bytes
/// so items cross providers without being parsed; ``metadataValue()`` parses it.
///
/// Items that crossed the C ABI are views into one copied block per batch: nothing
/// per item is built until a field is read, and handing such items to another native
/// provider passes their bytes on without touching them. Fields read from such an item
/// are slices of that block, so index them from `startIndex` (or `Data(x)` for a
/// zero-based copy). Setting a field gives the item its own storage.
public struct ProviderItem: Sendable, Hashable {
    /// The fields of an item that owns its storage.
    struct Fields: Sendable, Hashable {
        var metadata: Data
        var payload: Data
        var vector: [Float]?
        var resumeToken: Data
    }

    enum Storage: Sendable {
        case owned(Fields)
        /// Made by the host with parsed metadata (a built-in transform's output): the JSON
        /// text is only written when something reads ``metadata`` (a plugin, a sink that
        /// stores bytes), so a chain of built-ins and Swift sinks never encodes or parses it.
        case parsed(JSONValue, Fields)
        /// Item `index` of a batch copied from a plugin.
        case copied(CopiedBatch, Int)
        /// Item `index` of a batch a Python provider made: its Python object travels with it.
        case python(PythonBatch, Int)
    }

    var storage: Storage

    public init(metadata: Data = Data("{}".utf8), payload: Data = Data(), vector: [Float]? = nil, resumeToken: Data = Data()) {
        storage = .owned(Fields(metadata: metadata, payload: payload, vector: vector, resumeToken: resumeToken))
    }

    /// An item whose metadata is `metadata`, encoded as JSON text only when first read as bytes
    /// (a value that cannot be encoded reads as `{}`).
    public init(metadata: JSONValue, payload: Data = Data(), vector: [Float]? = nil, resumeToken: Data = Data()) {
        storage = .parsed(metadata, Fields(metadata: Data(), payload: payload, vector: vector, resumeToken: resumeToken))
    }

    /// The JSON text of parsed metadata, keys sorted: every read of the bytes must give the same
    /// bytes (batch writers measure, then copy), and a dictionary's order differs per instance.
    static func encode(_ value: JSONValue) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    init(_ batch: CopiedBatch, _ index: Int) { storage = .copied(batch, index) }

    init(_ batch: PythonBatch, _ index: Int) { storage = .python(batch, index) }

    /// UTF-8 JSON text (usually an object).
    public var metadata: Data {
        get {
            switch storage {
            case .owned(let f): f.metadata
            case .parsed(let v, _): Self.encode(v)
            case .copied(let b, let i): b.data(b.items[i].metadata)
            case .python(let b, let i): b.metadata(i)
            }
        }
        set { update(metadataChanges: true) { $0.metadata = newValue } }
    }

    /// Raw bytes (an object's content, a document's text).
    public var payload: Data {
        get {
            switch storage {
            case .owned(let f), .parsed(_, let f): f.payload
            case .copied(let b, let i): b.data(b.items[i].payload)
            case .python(let b, let i): b.payload(i)
            }
        }
        set { update { $0.payload = newValue } }
    }

    /// An embedding, if any.
    public var vector: [Float]? {
        get {
            switch storage {
            case .owned(let f), .parsed(_, let f): f.vector
            case .copied(let b, let i): b.vector(b.items[i])
            case .python(let b, let i): b.vector(i)
            }
        }
        set { update { $0.vector = newValue } }
    }

    /// Opaque; a source resumes after the item that carried it.
    public var resumeToken: Data {
        get {
            switch storage {
            case .owned(let f), .parsed(_, let f): f.resumeToken
            case .copied(let b, let i): b.data(b.items[i].resume_token)
            case .python(let b, let i): b.resumeToken(i)
            }
        }
        set { update { $0.resumeToken = newValue } }
    }

    var fields: Fields {
        switch storage {
        case .owned(let f): f
        case .parsed, .copied, .python: Fields(metadata: metadata, payload: payload, vector: vector, resumeToken: resumeToken)
        }
    }

    /// Gives the item its own storage (dropping the old reference first, so that a field
    /// that is mutated in place is not copied on write).
    private mutating func update(metadataChanges: Bool = false, _ body: (inout Fields) -> Void) {
        if case .parsed(let value, var f) = storage {
            storage = .owned(Fields(metadata: Data(), payload: Data(), vector: nil, resumeToken: Data()))
            body(&f)
            // Another field changed: the metadata stays parsed (and still unencoded); new
            // metadata bytes replace the parsed value (`f.metadata` was empty until `body`).
            storage = metadataChanges ? .owned(f) : .parsed(value, f)
            return
        }
        var f = fields
        storage = .owned(Fields(metadata: Data(), payload: Data(), vector: nil, resumeToken: Data()))
        body(&f)
        storage = .owned(f)
    }

    public static func == (a: ProviderItem, b: ProviderItem) -> Bool { a.fields == b.fields }
    public func hash(into hasher: inout Hasher) { hasher.combine(fields) }

    /// The metadata parsed as JSON (`{}` when empty).
    public func metadataValue() throws -> JSONValue {
        if case .parsed(let value, _) = storage { return value }
        let m = metadata
        if m.isEmpty { return [:] }
        return try JSONDecoder().decode(JSONValue.self, from: m)
    }

    /// The resume token as UTF-8 text.
    public var resumeTokenString: String { String(decoding: resumeToken, as: UTF8.self) }
}
