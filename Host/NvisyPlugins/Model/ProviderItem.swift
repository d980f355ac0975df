import Foundation
import NvisyCore

/// One item as it moves between providers: plain bytes, whatever runtime made it.
///
/// `metadata` is UTF-8 JSON text (an object's attributes or a record), kept as bytes
/// so items cross providers without being parsed; ``metadataValue()`` parses it.
///
/// Items that crossed the ABI share one buffer per batch: their `Data` fields are
/// slices, so index them from `startIndex` (or `Data(x)` for a zero-based copy).
public struct ProviderItem: Sendable, Hashable {
    public var metadata: Data
    public var payload: Data
    public var vector: [Float]?
    /// Opaque; a source resumes after the item that carried it.
    public var resumeToken: Data

    public init(metadata: Data = Data("{}".utf8), payload: Data = Data(), vector: [Float]? = nil, resumeToken: Data = Data()) {
        self.metadata = metadata
        self.payload = payload
        self.vector = vector
        self.resumeToken = resumeToken
    }

    public init(metadata: JSONValue, payload: Data = Data(), vector: [Float]? = nil, resumeToken: Data = Data()) {
        self.init(metadata: (try? JSONEncoder().encode(metadata)) ?? Data("{}".utf8), payload: payload,
                  vector: vector, resumeToken: resumeToken)
    }

    /// The metadata parsed as JSON (`{}` when empty).
    public func metadataValue() throws -> JSONValue {
        if metadata.isEmpty { return [:] }
        return try JSONDecoder().decode(JSONValue.self, from: metadata)
    }

    /// The resume token as UTF-8 text.
    public var resumeTokenString: String { String(decoding: resumeToken, as: UTF8.self) }
}
