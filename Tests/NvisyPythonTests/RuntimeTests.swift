import Foundation
import NvisyCore
import NvisyPlugins
import Testing

@Suite("Python providers through the plugin host")
struct RuntimeTests {
    @Test("a python manifest loads its PROVIDERS with kinds, data types and schemas")
    func listsProviders() async throws {
        let host = try await PyTest.host(["fixtures.toml": PyTest.fixturesManifest])
        let plugin = try await host.plugin(named: "fixtures")
        #expect(plugin.status == .loaded, "\(plugin.error ?? "")")
        #expect(plugin.version == "1.2.3")
        #expect(plugin.runtime == "python")
        #expect(plugin.providers.map(\.name) == ["count", "echo", "fail", "jsonl", "lengths", "upper"])
        let count = try await host.provider("fixtures/count")
        #expect(count.kinds == [.source])
        #expect(count.dataType == .record)
        #expect(count.configSchema["required"] == ["count"])
        #expect(try await host.provider("fixtures/jsonl").kinds.sorted { $0.rawValue < $1.rawValue } == [.sink, .source])
        #expect(try await host.provider("fixtures/upper").kinds == [.transform])
        // The schema is the host's: a bad config never reaches Python.
        await #expect(throws: NvisyError.self) { _ = try await host.makeSource("fixtures/count", config: ["count": "x"]) }
    }

    @Test("source → sink through the host, in batches, with resume tokens and UTF-8 intact")
    func sourceToSink() async throws {
        let host = try await PyTest.host(["fixtures.toml": PyTest.fixturesManifest])
        let source = try await host.makeSource("fixtures/count", config: ["count": 1000])
        let out = try PyTest.tempDirectory("out").appendingPathComponent("records.jsonl")
        let sink = try await host.makeSink("fixtures/jsonl", config: ["path": .string(out.path)])
        var batches = 0, items = 0
        for try await batch in source.read(batchSize: 300) {
            batches += 1
            items += batch.count
            try await sink.write(batch)
        }
        #expect(batches == 4)
        #expect(items == 1000)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1000)
        #expect(lines.last == #"{"data": {"id": 999, "name": "item 999", "\u00fcn\u00ef": "\u2713"}, "token": "999"}"#)

        var resumed: [String] = []
        for try await item in source.read(after: Data("996".utf8)).items { resumed.append(item.resumeTokenString) }
        #expect(resumed == ["997", "998", "999"])
        let first = try await source.read(batchSize: 1).items.first { _ in true }
        #expect(first?.json == ["id": 0, "name": "item 0", "ünï": "✓"])

        // A source that yields one list: the host still gets batches of at most batchSize.
        let back = try await host.makeSource("fixtures/jsonl", config: ["path": .string(out.path)])
        var sizes: [Int] = []
        for try await b in back.read(batchSize: 256) { sizes.append(b.count) }
        #expect(sizes == [256, 256, 256, 232])
        await source.close()
        await sink.close()
    }

    @Test("transform, embedding and completion providers")
    func otherKinds() async throws {
        let host = try await PyTest.host(["fixtures.toml": PyTest.fixturesManifest])
        let upper = try await host.makeTransform("fixtures/upper", config: ["copies": 2])
        let input = [ProviderItem(metadata: ["path": "a.txt"], payload: Data("hello".utf8), resumeToken: Data("a".utf8)),
                     ProviderItem(metadata: ["path": "b.txt"], payload: Data(), resumeToken: Data("b".utf8))]
        let out = try await upper.transformAll(input)
        #expect(out.count == 4)
        #expect(String(decoding: out[0].payload, as: UTF8.self) == "HELLO")
        #expect(out[1].json == ["path": "a.txt", "copy": 1, "kind": "memoryview"])
        #expect(out[3].resumeTokenString == "b")

        let lengths = try await host.makeEmbedding("fixtures/lengths", config: [:])
        #expect(try await lengths.embed(["banana", "sky"]) == [[6, 3, 0.5], [3, 0, 0.5]])
        #expect(try await lengths.embed([]) == [])

        let echo = try await host.makeCompletion("fixtures/echo", config: [:])
        let tokens = TokenBox()
        let response = try await echo.complete(["messages": [["role": "user", "content": "one two three"]]]) { tokens.add($0) }
        #expect(response["message"]?["content"] == "one two three")
        #expect(tokens.all == ["one ", "two ", "three "])
    }

    @Test("Python exceptions become nvisy errors with type, message, frames and retry class")
    func errors() async throws {
        let host = try await PyTest.host(["fixtures.toml": PyTest.fixturesManifest])
        func failure(_ mode: String) async throws -> NvisyError? {
            let s = try await host.makeSource("fixtures/fail", config: ["mode": .string(mode)])
            do {
                for try await _ in s.read(batchSize: 10) {}
                return nil
            } catch let e as NvisyError { return e }
        }
        let transient = try #require(try await failure("transient"))
        #expect(transient.retry == .transient)
        #expect(transient.message.contains("fixtures/fail: read: TransientError: the service said 503, try later"), "\(transient.message)")
        let permanent = try #require(try await failure("permanent"))
        #expect(permanent.retry == .permanent)
        let value = try #require(try await failure("value"))
        #expect(value.retry == .permanent)
        #expect(value.message.contains("ValueError: bad value 42"), "\(value.message)")
        #expect(value.message.contains("nvisy_fixtures.py:"), "\(value.message)")
        #expect(value.message.contains("in _helper"), "\(value.message)")
        #expect(try await failure("none") == nil)
        // pydantic refuses what the JSON Schema let through → invalid config.
        do {
            _ = try await host.makeSource("fixtures/count", config: ["count": 1.5])
            Issue.record("expected an invalid config")
        } catch let e as NvisyError {
            #expect(e.kind == .invalidInput, "\(e)")
        }
    }

    @Test("an import error fails that plugin only, with the reason; the host keeps serving")
    func importError() async throws {
        let host = try await PyTest.host([
            "broken.toml": PyTest.manifest("broken", module: "nvisy_broken"),
            "missing.toml": PyTest.manifest("missing", module: "nvisy_not_there"),
            "fixtures.toml": PyTest.fixturesManifest,
        ])
        let broken = try await host.plugin(named: "broken")
        #expect(broken.status == .failed)
        #expect(broken.error?.contains("ModuleNotFoundError: No module named 'nvisy_no_such_dependency'") == true, "\(broken.error ?? "")")
        #expect(broken.error?.contains("nvisy_broken.py:2") == true, "\(broken.error ?? "")")
        let missing = try await host.plugin(named: "missing")
        #expect(missing.status == .failed)
        #expect(missing.error?.contains("nvisy_not_there") == true)
        #expect(try await host.plugin(named: "fixtures").status == .loaded)
        let s = try await host.makeSource("fixtures/count", config: ["count": 3])
        var n = 0
        for try await b in s.read() { n += b.count }
        #expect(n == 3)
    }

    @Test("a module + manifest dropped into plugins.d appears after a reload; editing it and reloading picks up the change")
    func dropInAndReload() async throws {
        let host = try await PyTest.host([:])
        #expect(try await host.plugins().isEmpty)
        let dir = host.directory
        let module = "nvisy_dropin_\(UInt32.random(in: 0...UInt32.max))"
        func write(_ greeting: String) throws {
            let code = """
            from nvisy_plugin import Record, Source

            class Hello(Source):
                name = "hello"
                config_schema = {"type": "object"}

                async def read(self, after):
                    yield Record({"greeting": "\(greeting)"}, resume_token="1")

            PROVIDERS = [Hello]
            """
            try Data(code.utf8).write(to: dir.appendingPathComponent("\(module).py"))
        }
        try write("hello")
        try Data("name = \"dropin\"\nruntime = \"python\"\nmodule = \"\(module)\"\n".utf8).write(to: dir.appendingPathComponent("dropin.toml"))
        let report = await host.reload()
        #expect(report.added == ["dropin"])
        let first = try await host.makeSource("dropin/hello", config: [:]).read().items.first { _ in true }
        #expect(first?.json == ["greeting": "hello"])
        try await Task.sleep(for: .milliseconds(1100))  // a new mtime for the import system
        try write("bonjour")
        await host.reload()
        let second = try await host.makeSource("dropin/hello", config: [:]).read().items.first { _ in true }
        #expect(second?.json == ["greeting": "bonjour"])
    }

    @Test("a provider that awaits forever is cancelled after its timeout; one that blocks the thread is answered on time")
    func timeouts() async throws {
        let host = try await PyTest.host(["fixtures.toml": PyTest.fixturesManifest], timeout: .milliseconds(500))
        let sleeper = try await host.makeSource("fixtures/fail", config: ["mode": "sleep"])
        let clock = ContinuousClock()
        var start = clock.now
        do {
            for try await _ in sleeper.read() {}
            Issue.record("expected a timeout")
        } catch let e as NvisyError {
            #expect(e.retry == .transient)
            #expect(e.message.contains("timeout"), "\(e.message)")
        }
        // The provider awaits for an hour; its 500 ms timeout answered it (room for a loaded machine).
        #expect(clock.now - start < .seconds(10))

        let blocker = try await host.makeSource("fixtures/fail", config: ["mode": "block"])
        start = clock.now
        do {
            for try await _ in blocker.read() {}
            Issue.record("expected a timeout")
        } catch let e as NvisyError {
            #expect(e.retry == .transient)
        }
        // The provider blocks its thread for 6 s; the caller is answered at its timeout, well before.
        #expect(clock.now - start < .seconds(5))
        // Once the blocking call returns, the interpreter serves again.
        try await Task.sleep(for: .seconds(5))
        let s = try await host.makeSource("fixtures/count", config: ["count": 2])
        var n = 0
        for try await b in s.read() { n += b.count }
        #expect(n == 2)
    }

    @Test("a Swift task cancelled mid-call cancels the Python task")
    func cancellation() async throws {
        let host = try await PyTest.host(["fixtures.toml": PyTest.fixturesManifest])
        let sleeper = try await host.makeSource("fixtures/fail", config: ["mode": "sleep"])
        let task = Task { for try await _ in sleeper.read() {} }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
    }
}

final class TokenBox: @unchecked Sendable {
    private let lock = NSLock()
    private var tokens: [String] = []
    func add(_ t: String) { lock.withLock { tokens.append(t) } }
    var all: [String] { lock.withLock { tokens } }
}
