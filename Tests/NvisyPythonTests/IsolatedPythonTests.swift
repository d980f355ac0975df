import Foundation
import NvisyCore
import NvisyPlugins
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A Python plugin with `isolation = "process"`: its embedded interpreter runs in a
/// `nvisy plugin-host` child, and the host reaches it through the same handles.
@Suite("Isolated Python")
struct IsolatedPythonTests {
    @Test("a Python plugin runs in its own process: records, transform, streamed completion")
    func pythonInChild() async throws {
        let host = try await PyTest.host(["fixtures.toml": PyTest.manifest("fixtures", module: "nvisy_fixtures", extra: "isolation = \"process\"")])
        let plugin = try await host.plugin(named: "fixtures")
        #expect(plugin.status == .loaded, "\(plugin.error ?? "")")
        #expect(plugin.isolation == .process)
        #expect(plugin.version == "1.2.3")
        let pid = try #require(plugin.childPid)
        #expect(pid != Int(getpid()))

        let source = try await host.makeSource("fixtures/count", config: ["count": 1000])
        var tokens: [String] = []
        for try await batch in source.read(batchSize: 300) { tokens += batch.map(\.resumeTokenString) }
        #expect(tokens == (0..<1000).map(String.init))
        let first = try await source.openCursor(after: Data("997".utf8)).next(maxItems: 10)
        #expect(first?.map(\.resumeTokenString) == ["998", "999"])
        #expect(try first?.first?.metadataValue()["ünï"]?.stringValue == "✓")

        let upper = try await host.makeInstance("fixtures/upper", config: [:]) as! any TransformInstance
        let out = try await upper.transformAll([ProviderItem(metadata: ["path": "a.txt"], payload: Data("abc".utf8), resumeToken: Data("1".utf8))])
        #expect(out.map { Data($0.payload) } == [Data("ABC".utf8)])

        let echo = try await host.makeInstance("fixtures/echo", config: [:]) as! any CompletionInstance
        let seen = Tokens()
        let answer = try await echo.complete(["messages": [["role": "user", "content": "hello isolated world"]]]) { seen.add($0) }
        #expect(answer["message"]?["content"]?.stringValue == "hello isolated world")
        #expect(seen.all == ["hello ", "isolated ", "world "])

        // A Python exception still comes back classified.
        let fail = try await host.makeSource("fixtures/fail", config: ["mode": "permanent"])
        do {
            for try await _ in fail.read() {}
            Issue.record("the failing source did not fail")
        } catch let e as NvisyError {
            #expect(e.retry == .permanent && e.message.contains("bucket does not exist"), "\(e)")
        }
        #expect(try await host.plugin(named: "fixtures").restarts == 0)
    }
}

/// Collects streamed tokens from another thread.
private final class Tokens: @unchecked Sendable {  // `tokens` is only touched under `lock`
    private let lock = NSLock()
    private var tokens: [String] = []
    func add(_ t: String) { lock.withLock { tokens.append(t) } }
    var all: [String] { lock.withLock { tokens } }
}
