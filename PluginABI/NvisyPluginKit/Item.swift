import Foundation

/// One data item, as a provider sees it.
///
/// - `metadataJSON`: a UTF-8 JSON object — an object's attributes (`{"path": …}`) or a record.
///   ``metadata`` parses and sets it as a ``JSON`` value.
/// - `payload`: raw bytes (an object's content); empty for records.
/// - `vector`: an embedding, if any.
/// - `resumeToken`: opaque bytes; a source resumes *after* the item that carried it.
///
/// Items the host passed in are views into one copy of the host's batch: nothing per item
/// is built until a field is read, and returning such items (a pass-through transform)
/// passes their bytes on untouched. Fields read from them are slices of that copy, so
/// index them from `startIndex` (or `Data(x)` for a zero-based copy). Setting a field
/// gives the item its own storage.
public struct Item: Sendable, Equatable {
    struct Fields: Sendable, Equatable {
        var metadataJSON: Data
        var payload: Data
        var vector: [Float]?
        var resumeToken: Data
    }

    enum Storage: Sendable {
        case owned(Fields)
        /// Item `index` of a batch copied from the host.
        case copied(ReceivedBatch, Int)
    }

    var storage: Storage

    public init(metadataJSON: Data, payload: Data = Data(), vector: [Float]? = nil, resumeToken: Data = Data()) {
        storage = .owned(Fields(metadataJSON: metadataJSON, payload: payload, vector: vector, resumeToken: resumeToken))
    }

    public init(metadata: JSON = [:], payload: Data = Data(), vector: [Float]? = nil, resumeToken: String = "") {
        self.init(metadataJSON: metadata.serialized(), payload: payload, vector: vector, resumeToken: Data(resumeToken.utf8))
    }

    init(_ batch: ReceivedBatch, _ index: Int) { storage = .copied(batch, index) }

    /// The metadata as UTF-8 JSON text.
    public var metadataJSON: Data {
        get {
            switch storage {
            case .owned(let f): f.metadataJSON
            case .copied(let b, let i): b.data(b.items[i].metadata)
            }
        }
        set { update { $0.metadataJSON = newValue } }
    }

    /// Raw bytes (an object's content).
    public var payload: Data {
        get {
            switch storage {
            case .owned(let f): f.payload
            case .copied(let b, let i): b.data(b.items[i].payload)
            }
        }
        set { update { $0.payload = newValue } }
    }

    /// An embedding, if any.
    public var vector: [Float]? {
        get {
            switch storage {
            case .owned(let f): f.vector
            case .copied(let b, let i): b.vector(b.items[i])
            }
        }
        set { update { $0.vector = newValue } }
    }

    /// Opaque; a source resumes after the item that carried it.
    public var resumeToken: Data {
        get {
            switch storage {
            case .owned(let f): f.resumeToken
            case .copied(let b, let i): b.data(b.items[i].resume_token)
            }
        }
        set { update { $0.resumeToken = newValue } }
    }

    var fields: Fields {
        switch storage {
        case .owned(let f): f
        case .copied: Fields(metadataJSON: metadataJSON, payload: payload, vector: vector, resumeToken: resumeToken)
        }
    }

    /// Gives the item its own storage (dropping the old reference first, so that a field
    /// mutated in place is not copied on write).
    private mutating func update(_ body: (inout Fields) -> Void) {
        var f = fields
        storage = .owned(Fields(metadataJSON: Data(), payload: Data(), vector: nil, resumeToken: Data()))
        body(&f)
        storage = .owned(f)
    }

    public static func == (a: Item, b: Item) -> Bool { a.fields == b.fields }

    /// The metadata as JSON (parsed on each read; `{}` when empty or invalid).
    public var metadata: JSON {
        get { (try? JSON.parse(metadataJSON)) ?? [:] }
        set { metadataJSON = newValue.serialized() }
    }

    /// The resume token as UTF-8 text.
    public var resumeTokenString: String { String(decoding: resumeToken, as: UTF8.self) }
}

/// What a provider produces or accepts.
public enum DataType: Int32, Sendable {
    case object = 0, record = 1, embedding = 2, document = 3, message = 4, graph = 5
}
