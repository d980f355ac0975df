import Foundation
import NvisyCore
import NvisyPlugins
import Testing

/// Items between two Python providers: the host hands the Python objects on (no JSON parse, no
/// new `Record`s) while keeping every item's fields, token and count for Swift.
/// The `nvisy_handon` fixtures report, per call, how many of the items they were given are
/// the very objects the `made` source yielded.
@Suite("Python items handed on between Python providers")
struct HandOnTests {
    static let manifest = PyTest.manifest("handon", module: "nvisy_handon")

    /// The JSON lines a reporting fixture wrote.
    static func reports(_ url: URL) throws -> [JSONValue] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8))
        }
    }

    static func number(_ v: JSONValue?) -> Int { Int(v?.doubleValue ?? -1) }

    @Test("a Python source's batches reach a Python sink as the same objects; Swift still reads fields and tokens")
    func sourceToSink() async throws {
        let host = try await PyTest.host(["handon.toml": Self.manifest])
        let source = try await host.makeSource("handon/made", config: ["count": 700])
        let out = try PyTest.tempDirectory("handon").appendingPathComponent("seen.jsonl")
        let sink = try await host.makeSink("handon/seen", config: ["path": .string(out.path)])
        var tokens: [String] = []
        for try await batch in source.read(batchSize: 256) {
            tokens += batch.map(\.resumeTokenString)
            try await sink.write(batch)
            #expect(batch.last?.json == ["id": .number(Double(tokens.count - 1)), "path": .string("p\(tokens.count - 1)")])
        }
        #expect(tokens == (0..<700).map { "t\($0)" })
        let r = try Self.reports(out)
        #expect(r.map { Self.number($0["items"]) } == [256, 256, 188])
        #expect(r.map { Self.number($0["handedOn"]) } == [256, 256, 188])
        #expect(r.last?["tokens"]?.arrayValue?.last == "t699")
        await sink.close()
        await source.close()
    }

    @Test("a batch changed in Swift, or mixing in Swift items, crosses by value; so does one for a sink of another type")
    func changedOrMixed() async throws {
        let host = try await PyTest.host(["handon.toml": Self.manifest])
        let source = try await host.makeSource("handon/made", config: ["count": 3])
        let dir = try PyTest.tempDirectory("handon")
        let seen = try await host.makeSink("handon/seen", config: ["path": .string(dir.appendingPathComponent("a.jsonl").path)])
        var batch = try #require(try await source.read(batchSize: 10).first { _ in true })
        // Unchanged: handed on.
        try await seen.write(batch)
        // One item changed in Swift, one Swift item added: all cross by value.
        batch[1].metadata = Data(#"{"id":41}"#.utf8)
        batch.append(ProviderItem(metadata: ["id": 99], resumeToken: Data("swift".utf8)))
        try await seen.write(batch)
        let r = try Self.reports(dir.appendingPathComponent("a.jsonl"))
        #expect(r.map { Self.number($0["handedOn"]) } == [3, 0])
        #expect(r[1]["data"] == [["id": 0, "path": "p0"], ["id": 41], ["id": 2, "path": "p2"], ["id": 99]])
        #expect(r[1]["tokens"] == ["t0", "t1", "t2", "swift"])

        // Records for an object sink: rebuilt as objects, as from any other runtime.
        let objects = try await host.makeSink("handon/seen-objects", config: ["path": .string(dir.appendingPathComponent("o.jsonl").path)])
        let fresh = try #require(try await source.read(batchSize: 10).first { _ in true })
        try await objects.write(fresh)
        let o = try Self.reports(dir.appendingPathComponent("o.jsonl"))
        #expect(Self.number(o[0]["handedOn"]) == 0)
        #expect(o[0]["types"] == ["Object"])
        #expect(o[0]["data"] == [["path": "p0", "id": 0], ["path": "p1", "id": 1], ["path": "p2", "id": 2]])
        #expect(o[0]["tokens"] == ["t0", "t1", "t2"])
    }

    @Test("source → Python transform → Python sink: every hop hands the objects on")
    func throughATransform() async throws {
        let host = try await PyTest.host(["handon.toml": Self.manifest])
        let dir = try PyTest.tempDirectory("handon")
        let source = try await host.makeSource("handon/made", config: ["count": 5])
        let tag = try await host.makeTransform("handon/tag", config: ["path": .string(dir.appendingPathComponent("t.jsonl").path)])
        let sink = try await host.makeSink("handon/seen", config: ["path": .string(dir.appendingPathComponent("s.jsonl").path)])
        for try await batch in source.read(batchSize: 5) {
            let tagged = try await tag.transformAll(batch)
            #expect(tagged.map(\.resumeTokenString) == ["t0", "t1", "t2", "t3", "t4"])
            #expect(tagged[4].json == ["id": 4, "path": "p4", "tagged": true])
            try await sink.write(tagged)
        }
        #expect(Self.number(try Self.reports(dir.appendingPathComponent("t.jsonl"))[0]["handedOn"]) == 5)
        let s = try Self.reports(dir.appendingPathComponent("s.jsonl"))
        #expect(Self.number(s[0]["items"]) == 5)
        #expect(s[0]["data"]?.arrayValue?.first == ["id": 0, "path": "p0", "tagged": true])
    }
}
