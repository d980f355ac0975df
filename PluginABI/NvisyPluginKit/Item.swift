import Foundation

/// One data item, as a provider sees it.
///
/// - `metadataJSON`: a UTF-8 JSON object — an object's attributes (`{"path": …}`) or a record.
///   ``metadata`` parses and sets it as a ``JSON`` value.
/// - `payload`: raw bytes (an object's content); empty for records.
/// - `vector`: an embedding, if any.
/// - `resumeToken`: opaque bytes; a source resumes *after* the item that carried it.
///
/// Items that crossed the ABI share one buffer per batch: their `Data` fields are
/// slices, so index them from `startIndex` (or `Data(x)` for a zero-based copy).
public struct Item: Sendable, Equatable {
    public var metadataJSON: Data
    public var payload: Data
    public var vector: [Float]?
    public var resumeToken: Data

    public init(metadataJSON: Data, payload: Data = Data(), vector: [Float]? = nil, resumeToken: Data = Data()) {
        self.metadataJSON = metadataJSON
        self.payload = payload
        self.vector = vector
        self.resumeToken = resumeToken
    }

    public init(metadata: JSON = [:], payload: Data = Data(), vector: [Float]? = nil, resumeToken: String = "") {
        self.init(metadataJSON: metadata.serialized(), payload: payload, vector: vector, resumeToken: Data(resumeToken.utf8))
    }

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
