import Foundation
import NvisyCore
import NvisyPlugins
import Synchronization

/// `bench/documents`: the benchmark's documents as objects with the metadata `workspace/files`
/// gives (fileId, version, name, contentType), so the rest of the indexing template runs as in
/// the server. Config: none; the documents are fixed when the factory is made.
///
/// With `parsed`, `bench/parsed`: the same documents as `documents/partition` gives them (text,
/// format, source), for a diagnostic run of the template without the Python partitioner.
struct BenchDocumentsFactory: ProviderFactory {
    let documents: [(file: UUID, text: String)]
    var parsed = false

    var descriptor: ProviderDescriptor {
        ProviderDescriptor(plugin: "bench", name: parsed ? "parsed" : "documents", description: "benchmark documents", kinds: [.source],
                           dataType: parsed ? .document : .object, configSchema: ["type": "object"], credentialsSchema: nil)
    }

    func makeInstance(config: JSONValue, credentials: JSONValue, options: ProviderCallOptions) async throws -> any ProviderInstance {
        BenchDocumentsSource(descriptor: descriptor, documents: documents, parsed: parsed)
    }
}

final class BenchDocumentsSource: SourceInstance {
    let descriptor: ProviderDescriptor
    let documents: [(file: UUID, text: String)]
    let parsed: Bool

    init(descriptor: ProviderDescriptor, documents: [(file: UUID, text: String)], parsed: Bool) {
        self.descriptor = descriptor
        self.documents = documents
        self.parsed = parsed
    }

    func check() async throws {}
    func close() async {}

    func openCursor(after resumeToken: Data?) async throws -> any BatchCursor {
        let start = resumeToken.flatMap { Int(String(decoding: $0, as: UTF8.self)) }.map { $0 + 1 } ?? 0
        return BenchDocumentsCursor(source: self, next: start)
    }
}

final class BenchDocumentsCursor: BatchCursor {
    let source: BenchDocumentsSource
    private let position: Mutex<Int>

    init(source: BenchDocumentsSource, next: Int) {
        self.source = source
        position = Mutex(next)
    }

    func next(maxItems: Int) async throws -> [ProviderItem]? {
        let range = position.withLock { p -> Range<Int> in
            let r = p..<min(source.documents.count, p + max(1, maxItems))
            p = r.upperBound
            return r
        }
        if range.isEmpty { return nil }
        return range.map { i in
            let d = source.documents[i]
            let file: JSONValue = ["fileId": .string(d.file.uuidString.lowercased()), "version": 1, "name": .string("doc-\(i).txt"),
                                   "path": .string("doc-\(i).txt"), "contentType": "text/plain"]
            let meta: JSONValue = source.parsed
                ? ["sections": [], "path": .string("doc-\(i).txt"), "format": "text", "chars": .number(Double(d.text.count)), "source": file]
                : file
            return ProviderItem(metadata: meta, payload: Data(d.text.utf8), resumeToken: Data("\(i)".utf8))
        }
    }

    func close() {}
}
