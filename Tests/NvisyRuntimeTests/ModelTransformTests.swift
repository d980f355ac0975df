import Foundation
import NvisyCore
import NvisyPlugins
import Testing
@testable import NvisyRuntime

/// `embed`, `summarize` and `extract` against a real dlopen'd model provider: the `trivial`
/// fixture plugin (its embedding answers [length, 1] per text; its chat streams the last
/// message back), enabled in a registry of its own.
@Suite("Runtime: model built-ins")
struct ModelTransformTests {
    static let connections = StaticConnectionResolver([
        "emb": ResolvedConnection(provider: "trivial/echo", config: [:]),
        "chat": ResolvedConnection(provider: "trivial/chat", config: [:]),
        "files": ResolvedConnection(provider: "filesystem/files", config: ["root": "/tmp"]),
    ])

    static func host() async throws -> PluginHost {
        let dir = try RuntimeTestSupport.tempDirectory("models.d")
        try FileManager.default.copyItem(at: RuntimeTestSupport.repoRoot.appendingPathComponent("plugins.d/filesystem.toml"),
                                         to: dir.appendingPathComponent("filesystem.toml"))
        try Data("name = \"trivial\"\nruntime = \"swift\"\nlibrary = \"libNvisyTrivialPlugin.so\"\nenabled = true\n".utf8)
            .write(to: dir.appendingPathComponent("trivial.toml"))
        let host = PluginHost(directory: dir, librarySearchPath: [PluginLibraryResolver.executableDirectory ?? URL(fileURLWithPath: ".build/debug")],
                              logger: RuntimeTestSupport.logger)
        await host.reload()
        return host
    }

    static func make(_ spec: BuiltinTransformSpec, _ params: JSONValue, host: PluginHost) async -> Result<any BuiltinTransform, BuiltinParamErrors> {
        await spec.make(params, BuiltinContext(host: host, connections: connections, pointer: "/nodes/1/params"))
    }

    static func item(_ text: String, _ meta: JSONValue = [:], _ token: String) -> ProviderItem {
        ProviderItem(metadata: meta, payload: Data(text.utf8), resumeToken: Data(token.utf8))
    }

    @Test("embed: one vector per item through the provider, in batches; an item without text fails alone")
    func embed() async throws {
        let host = try await Self.host()
        let t = try await Self.make(EmbedTransform.spec, ["connection": "emb", "batchSize": 2], host: host).get()
        let results = await t.apply([Self.item("hello", ["title": "a"], "1"), Self.item("hi there", [:], "2"), Self.item("", [:], "3"),
                                     Self.item("abc", [:], "4")])
        let outs = results.map { try? $0.get().first }
        #expect(outs[0]?.vector == [5, 1])
        #expect(outs[1]?.vector == [8, 1])
        #expect(outs[3]?.vector == [3, 1])
        #expect(outs[0]?.payload == Data("hello".utf8), "the payload stays")
        let meta = try #require(try outs[0]?.metadataValue())
        #expect(meta["title"]?.stringValue == "a")
        #expect(meta["embedding"]?["dimensions"]?.doubleValue == 2)
        guard case .failure(let e) = results[2] else { Issue.record("an empty text must fail"); return }
        #expect(e.retry == .permanent)
        #expect(e.message.contains("3"), "names the item: \(e.message)")
        // Text from a metadata field.
        let byField = try await Self.make(EmbedTransform.spec, ["connection": "emb", "text": "/title"], host: host).get()
        #expect(try await byField.apply([Self.item("ignored", ["title": "four"], "5")])[0].get().first?.vector == [4, 1])
        await t.close()
    }

    @Test("model built-ins check their params: connection required, of the right kind, known keys, a prompt for extract")
    func params() async throws {
        let host = try await Self.host()
        func errors(_ spec: BuiltinTransformSpec, _ params: JSONValue) async -> [String] {
            guard case .failure(let e) = await Self.make(spec, params, host: host) else { return [] }
            return e.errors.map(\.pointer)
        }
        #expect(await errors(EmbedTransform.spec, [:]) == ["/connection"])
        #expect(await errors(EmbedTransform.spec, ["connection": "files"]) == ["/connection"])
        #expect(await errors(EmbedTransform.spec, ["connection": "chat"]) == ["/connection"])
        #expect(await errors(EmbedTransform.spec, ["connection": "nope"]) == ["/connection"])
        #expect(await errors(EmbedTransform.spec, ["connection": "emb", "size": 3, "batchSize": 0]).sorted() == ["/batchSize", "/size"])
        #expect(await errors(CompletionTransform.spec(.extract), ["connection": "chat"]) == ["/prompt"])
        #expect(await errors(CompletionTransform.spec(.summarize), ["connection": "chat", "prompt": "no placeholder"]) == ["/prompt"])
        #expect(await errors(CompletionTransform.spec(.summarize), ["connection": "emb"]) == ["/connection"])
        #expect(await errors(CompletionTransform.spec(.summarize), ["connection": "chat"]).isEmpty)
    }

    @Test("summarize and extract: the rendered prompt goes to the completion provider; the answer lands in the metadata")
    func complete() async throws {
        let host = try await Self.host()
        let summarize = try await Self.make(CompletionTransform.spec(.summarize),
                                      ["connection": "chat", "prompt": "Title: {{/title}} - {{text}}"], host: host).get()
        let summary = try await summarize.apply([Self.item("the body", ["title": "T"], "1")])[0].get()[0]
        // trivial/chat answers with the message it was sent: the rendered prompt.
        #expect(try summary.metadataValue()["summary"]?.stringValue == "Title: T - the body")
        #expect(try summary.metadataValue()["title"]?.stringValue == "T")

        let extract = try await Self.make(CompletionTransform.spec(.extract), ["connection": "chat", "prompt": "{{text}}", "into": "/fields"], host: host).get()
        let extracted = try await extract.apply([Self.item(#"{"total": 42, "currency": "EUR"}"#, [:], "2")])[0].get()[0]
        #expect(try extracted.metadataValue()["fields"]?["total"]?.doubleValue == 42, "a JSON answer is stored as JSON")
        await summarize.close()
        await extract.close()
    }

    @Test("the compiler checks a model built-in's connection kind like any param")
    func compiles() async throws {
        let host = try await Self.host()
        let d = PipelineDefinition(nodes: [.source("in", connection: "files"), .transform("e", "embed", params: ["connection": "chat"]),
                                           .sink("out", connection: "files")],
                                   edges: [.init(from: "in", to: "e"), .init(from: "e", to: "out")])
        let problems = try await PipelineCompiler(host: host, connections: Self.connections).problems(in: d)
        #expect(problems.contains { $0.code == .invalidConfig && $0.pointer == "/nodes/1/params/connection" }, "\(problems)")
    }
}
