import Foundation
import NvisyCore
import Testing
@testable import NvisyPlugins

/// Items that crossed the ABI are views into one copied block per batch (see PluginABI/README.md).
@Suite("Items as views of a copied batch")
struct ItemViewTests {
    @Test("a plugin's batch becomes views of one block; values, equality and mutation behave like owned items")
    func views() async throws {
        let host = TestPlugins.host(try TestPlugins.pluginsDirectory(["trivial.toml": TestPlugins.trivial]))
        await host.reload()
        let source = try await host.makeSource("trivial/counter", config: ["count": 5, "payloadSize": 3])
        var batches: [[ProviderItem]] = []
        for try await b in source.read(batchSize: 5) { batches.append(b) }
        let items = try #require(batches.first)
        #expect(items.count == 5)
        // One block for the whole batch, not fields per item.
        guard case .copied(let block, 0) = items[0].storage, case .copied(let other, 4) = items[4].storage else {
            Issue.record("items from a native plugin should be views of the copied batch")
            return
        }
        #expect(block === other && block.count == 5)
        // Equal to owned items with the same fields, and hash alike.
        let owned = ProviderItem(metadata: Data(#"{"path":"item"}"#.utf8), payload: Data([7, 7, 7]), resumeToken: Data("2".utf8))
        #expect(items[2] == owned && items[2].hashValue == owned.hashValue)
        #expect(items[2].metadata == Data(#"{"path":"item"}"#.utf8) && items[2].vector == nil)
        // Setting a field gives that item its own storage; the others keep reading the block.
        var changed = items[1]
        changed.payload.append(9)
        #expect(changed.payload == Data([7, 7, 7, 9]) && changed.resumeTokenString == "1")
        guard case .owned = changed.storage else { Issue.record("a mutated item should own its fields"); return }
        #expect(items[1].payload == Data([7, 7, 7]))
    }

    @Test("views passed back into a plugin arrive intact, mixed with owned items, and outlive the source batch")
    func passOn() async throws {
        let host = TestPlugins.host(try TestPlugins.pluginsDirectory(["trivial.toml": TestPlugins.trivial]))
        await host.reload()
        let source = try await host.makeSource("trivial/counter", config: ["count": 3, "payloadSize": 2])
        var items: [ProviderItem] = []
        for try await b in source.read(batchSize: 2) { items += b }  // two batches: two blocks
        await source.close()
        items.append(ProviderItem(metadata: ["path": "own"], payload: Data("xyz".utf8), vector: [1, 2], resumeToken: Data("o".utf8)))
        let echo = try await host.makeTransform("trivial/echo", config: ["times": 2])
        let out = try await echo.transformAll(items)
        #expect(out.count == 8)
        #expect(out.map(\.resumeTokenString) == ["0", "0", "1", "1", "2", "2", "o", "o"])
        #expect(out.prefix(6).allSatisfy { $0.payload == Data([7, 7]) && $0.path == "item" })
        #expect(out[6].payload == Data("xyz".utf8) && out[6].vector == [1, 2] && out[6].path == "own")
        // A sink that counts: every item and payload byte arrives.
        let sink = try await host.makeSink("trivial/discard", config: ["expectItems": 8, "expectBytes": 18])
        try await sink.write(out)
        try await sink.check()
        let wrong = try await host.makeSink("trivial/discard", config: ["expectItems": 9])
        try await wrong.write(out)
        await #expect(throws: NvisyError.self) { try await wrong.check() }
    }

    @Test("an item made with parsed metadata keeps it parsed until its bytes are read, and setting fields behaves like an owned item")
    func parsedMetadata() throws {
        let meta: JSONValue = ["path": "a.txt", "chunk": ["index": 2, "count": 5]]
        var item = ProviderItem(metadata: meta, payload: Data("abc".utf8), resumeToken: Data("t".utf8))
        guard case .parsed = item.storage else { Issue.record("JSONValue metadata should stay parsed"); return }
        #expect(try item.metadataValue() == meta)
        // Its bytes are the JSON of the value, and it equals an owned item with those bytes.
        #expect(try JSONDecoder().decode(JSONValue.self, from: item.metadata) == meta)
        let owned = ProviderItem(metadata: item.metadata, payload: Data("abc".utf8), resumeToken: Data("t".utf8))
        #expect(item == owned && item.hashValue == owned.hashValue)
        // Another field changes: the metadata stays parsed and unchanged.
        item.vector = [1, 2]
        item.payload.append(UInt8(ascii: "d"))
        guard case .parsed = item.storage else { Issue.record("setting the vector or payload should keep the metadata parsed"); return }
        #expect(try item.metadataValue() == meta && item.vector == [1, 2] && item.payload == Data("abcd".utf8) && item.resumeTokenString == "t")
        // New metadata bytes replace the parsed value, even empty ones.
        item.metadata = Data(#"{"path":"b.txt"}"#.utf8)
        #expect(try item.metadataValue() == ["path": "b.txt"])
        item.metadata = Data()
        #expect(try item.metadataValue() == [:] && item.metadata.isEmpty)
    }
}
