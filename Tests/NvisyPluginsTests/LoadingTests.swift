import Foundation
import NvisyCore
import Testing
@testable import NvisyPlugins

@Suite("Loading plugins")
struct LoadingTests {
    @Test("every plugin shipped in plugins.d loads: Swift libraries from the build directory, Python modules from the venv")
    func shippedPluginsLoad() async throws {
        let host = TestPlugins.host(TestPlugins.repoRoot.appendingPathComponent("plugins.d"))
        await host.addRuntime(PythonRuntime(logger: TestPlugins.logger))
        let report = await host.reload()
        #expect(report.failed.isEmpty, "\(report.plugins.compactMap(\.error))")
        let ids = Set(await host.providers().map(\.id))
        for id in ["filesystem/files", "formats/csv", "formats/jsonl", "formats/jsonl-encode", "postgres/table",
                   "s3/bucket", "documents/partition"] {
            #expect(ids.contains(id), "missing \(id) in \(ids.sorted())")
        }
        let files = try await host.provider("filesystem/files")
        #expect(files.kinds == [.source, .sink])
        #expect(files.dataType == .object)
        #expect(files.configSchema["required"] == ["root"])
        // Summaries encode as JSON for the API.
        let json = try JSONEncoder().encode(await host.plugins())
        #expect(String(decoding: json, as: UTF8.self).contains("\"status\":\"loaded\""))
    }

    @Test("dlopen of each built plugin library, directly through the Swift runtime")
    func eachLibraryOpens() async throws {
        let runtime = SwiftPluginRuntime(resolver: PluginLibraryResolver(searchPath: [TestPlugins.libraryDirectory]))
        for (name, product) in [("filesystem", "NvisyFilesystemPlugin"), ("formats", "NvisyFormatsPlugin"),
                                ("postgres", "NvisyPostgresPlugin"), ("trivial", "NvisyTrivialPlugin")] {
            let manifest = PluginManifest(path: URL(fileURLWithPath: "/nonexistent/\(name).toml"), name: name,
                                          runtime: "swift", library: "lib\(product).so")
            let loaded = try await runtime.load(manifest)
            #expect(!loaded.providers.isEmpty, "\(name) has no providers")
            #expect(loaded.version == "0.1.0")
        }
    }

    @Test("every kind of handle works across the ABI")
    func handles() async throws {
        let host = TestPlugins.host(try TestPlugins.pluginsDirectory(["trivial.toml": TestPlugins.trivial]))
        await host.reload()

        let source = try await host.makeSource("trivial/counter", config: ["count": 10, "payloadSize": 3])
        var tokens: [String] = []
        for try await item in source.read(batchSize: 4).items { tokens.append(item.resumeTokenString) }
        #expect(tokens == (0..<10).map(String.init))
        // Resume after item 6.
        var resumed: [String] = []
        for try await batch in source.read(after: Data("6".utf8), batchSize: 64) { resumed += batch.map(\.resumeTokenString) }
        #expect(resumed == ["7", "8", "9"])

        let echo = try await host.makeTransform("trivial/echo", config: ["times": 3])
        let out = try await echo.transformAll([ProviderItem(metadata: ["path": "a"], payload: Data("x".utf8))])
        #expect(out.count == 3 && out.allSatisfy { $0.payload == Data("x".utf8) && $0.path == "a" })

        let embed = try await host.makeEmbedding("trivial/echo", config: [:])
        #expect(try await embed.embed(["abc", "hello"]) == [[3, 1], [5, 1]])

        let chat = try await host.makeCompletion("trivial/chat", config: [:])
        let tokensBox = TokenBox()
        let response = try await chat.complete(["messages": [["role": "user", "content": "hi there you"]]]) { tokensBox.add($0) }
        #expect(response["content"] == "hi there you")
        #expect(tokensBox.all == ["hi ", "there ", "you "])

        // A provider used as a kind it is not is refused with a clear error.
        await #expect(throws: NvisyError.self) { try await host.makeSink("trivial/counter", config: ["count": 1]) }
        for i in [source, echo, embed, chat] as [any ProviderInstance] { await i.close() }
    }
}

final class TokenBox: @unchecked Sendable {
    private let lock = NSLock()
    private var tokens: [String] = []
    func add(_ t: String) { lock.withLock { tokens.append(t) } }
    var all: [String] { lock.withLock { tokens } }
}
