import Foundation
import NvisyCore
import NvisyPlugins
import Testing

@testable import NvisyRuntime

/// The `chunk` built-in: windows of Unicode scalars, their offsets, sections and pages.
@Suite("Chunk transform")
struct ChunkTransformTests {
    func chunk(_ text: String, _ params: JSONValue, meta: JSONValue = ["path": "a.md"]) throws -> [ProviderItem] {
        guard case .success(let t) = ChunkTransform.parse(params), let transform = t as? ChunkTransform else {
            throw NvisyError.internal("bad params")
        }
        return try transform.chunk(ProviderItem(metadata: meta, payload: Data(text.utf8), resumeToken: Data("d".utf8)))
    }

    @Test("windows of `size` scalars overlapping by `overlap`, multi-byte text cut on scalar boundaries, offsets in scalars")
    func windows() throws {
        let text = "héllo wörld 🚀 ñandú ✓ end"  // 25 scalars, many of them multi-byte
        let scalars = Array(text.unicodeScalars)
        let out = try chunk(text, ["size": 8, "overlap": 3])
        var expected: [(Int, Int)] = []
        var start = 0
        while true {
            let end = min(start + 8, scalars.count)
            expected.append((start, end))
            if end == scalars.count { break }
            start = end - 3
        }
        #expect(out.count == expected.count)
        for (i, (item, cut)) in zip(out, expected).enumerated() {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[cut.0..<cut.1])
            #expect(String(decoding: item.payload, as: UTF8.self) == String(view))
            let info = try item.metadataValue()["chunk"]
            #expect(info?["index"]?.doubleValue == Double(i) && info?["count"]?.doubleValue == Double(expected.count))
            #expect(info?["start"]?.doubleValue == Double(cut.0) && info?["end"]?.doubleValue == Double(cut.1))
            #expect(try item.metadataValue()["path"]?.stringValue == "a.md" && item.resumeTokenString == "d#c\(i)")
        }
    }

    @Test("invalid UTF-8 is repaired as text decoding repairs it; by section keeps chunks inside sections and names them")
    func repairAndSections() throws {
        let broken = try chunk(String(decoding: Data([0x61, 0xFF, 0x62]), as: UTF8.self), ["size": 2])
        #expect(broken.map { String(decoding: $0.payload, as: UTF8.self) } == ["a\u{FFFD}", "b"])
        let text = "Intro text.\n\nÜber uns"  // sections: [0, 11) and [13, 21)
        let meta: JSONValue = ["sections": [["title": "Intro", "start": 0, "end": 11], ["title": "Über", "start": 13, "end": 21]]]
        let out = try chunk(text, ["size": 100, "by": "section"], meta: meta)
        #expect(out.map { String(decoding: $0.payload, as: UTF8.self) } == ["Intro text.", "Über uns"])
        #expect(try out.map { try $0.metadataValue()["chunk"]?["section"]?.stringValue } == ["Intro", "Über"])
        #expect(try out[0].metadataValue()["sections"] == nil)
    }
}
