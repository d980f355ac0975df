/// What a provider does in a pipeline.
public enum ProviderKind: String, Sendable, Codable, CaseIterable {
    case source, sink, transform, embedding, completion

    /// The ABI flag (`NVISY_KIND_*`).
    var abiFlag: UInt32 {
        switch self {
        case .source: 1
        case .sink: 2
        case .transform: 4
        case .embedding: 8
        case .completion: 16
        }
    }

    /// The kinds in an ABI bit set, or nil when it has unknown bits or none.
    static func kinds(abi: UInt32) -> [ProviderKind]? {
        let kinds = allCases.filter { abi & $0.abiFlag != 0 }
        let known = allCases.reduce(UInt32(0)) { $0 | $1.abiFlag }
        guard !kinds.isEmpty, abi & ~known == 0 else { return nil }
        return kinds
    }
}

/// The kind of item a provider produces or accepts.
public enum ProviderDataType: String, Sendable, Codable, CaseIterable {
    case object, record, embedding, document, message, graph

    init?(abi: Int32) {
        let all: [ProviderDataType] = [.object, .record, .embedding, .document, .message, .graph]
        guard abi >= 0, Int(abi) < all.count else { return nil }
        self = all[Int(abi)]
    }
}
