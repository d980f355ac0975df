import Foundation
import NvisyCore
import Testing
@testable import NvisyPlugins

/// formats/csv's record text and resume tokens, byte for byte (the per-row fast path copies
/// plain fields whole and leaves the rest to the escaping path).
@Suite("formats/csv records")
struct CSVRecordsTests {
    @Test("plain and escaped fields, sorted keys, tokens of file and line across calls and objects")
    func recordsAndTokens() async throws {
        let csv = try await FlowTests.shippedHost().makeTransform("formats/csv", config: [:])
        let a = ProviderItem(metadata: ["path": "a.csv"], payload: Data("\u{FEFF}b,a\r\n1,plain\r\n\r\n2,\"tab\there \\ \"\"q\"\"\"\n3,é\u{1}\n".utf8),
                             resumeToken: Data("a.csv".utf8))
        var rows: [[UInt8]] = (0..<1200).map { Array("\($0),x\($0)\n".utf8) }
        rows.insert(Array("b,a\n".utf8), at: 0)
        let b = ProviderItem(metadata: ["path": "b.csv"], payload: Data(rows.joined()), resumeToken: Data("b.csv".utf8))
        // transformAll pulls 1024 rows a call: the first call spans both objects, b.csv spans two calls.
        let out = try await csv.transformAll([a, b])
        #expect(out.count == 3 + 1200)
        #expect(out.prefix(3).map { String(decoding: $0.metadata, as: UTF8.self) } == [
            #"{"a":"plain","b":"1"}"#,
            #"{"a":"tab\there \\ \"q\"","b":"2"}"#,
            #"{"a":"é\u0001","b":"3"}"#,
        ])
        #expect(out.prefix(3).map { String(decoding: $0.resumeToken, as: UTF8.self) } == ["a.csv#2", "a.csv#4", "a.csv#5"])
        #expect(String(decoding: out[3].resumeToken, as: UTF8.self) == "b.csv#2")
        #expect(String(decoding: out[1202].resumeToken, as: UTF8.self) == "b.csv#1201")
        #expect(String(decoding: out[1202].metadata, as: UTF8.self) == #"{"a":"x1199","b":"1199"}"#)
        await csv.close()
    }

    @Test("without a header the fields are c1, c2, … and the first row is a record")
    func noHeader() async throws {
        let csv = try await FlowTests.shippedHost().makeTransform("formats/csv", config: ["header": false])
        let out = try await csv.transformAll([ProviderItem(metadata: ["path": "n.csv"], payload: Data("1,a\n2,b".utf8),
                                                           resumeToken: Data("n.csv".utf8))])
        #expect(out.map { String(decoding: $0.metadata, as: UTF8.self) } == [#"{"c1":"1","c2":"a"}"#, #"{"c1":"2","c2":"b"}"#])
        #expect(out.map { String(decoding: $0.resumeToken, as: UTF8.self) } == ["n.csv#1", "n.csv#2"])
        await csv.close()
    }
}
