import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime
import NvisyTestSupport
import Testing

@testable import NvisyServer

/// The knowledge base end to end: real PostgreSQL with pgvector, a real nats-server run queue and
/// worker, the shipped Python `documents` and `local` plugins on the embedded interpreter
/// (wordllama embeddings, offline), and the repo's docs in three formats as the corpus.
@Suite("API: indexing and search", .serialized)
struct KnowledgeAPITests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let corpus = repoRoot.appendingPathComponent("Tests/Fixtures/knowledge")
    static let venv: URL = {
        if let v = ProcessInfo.processInfo.environment["NVISY_VENV"], !v.isEmpty { return URL(fileURLWithPath: v) }
        return repoRoot.appendingPathComponent(".venv")
    }()

    struct Fixture {
        var content: ContentFixture
        let worker: RunWorker
        let task: Task<Void, Never>

        static func make(_ prefix: String) async throws -> Fixture {
            var content = try await ContentFixture.make(prefix, nats: true)
            let client = content.base.database.client
            // The shipped documents and local plugins (Python), beside the host's workspace/* ones.
            let dir = TestPostgres.temporaryDirectory("kb-plugins")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (name, module, folder) in [("documents", "nvisy_documents", "documents"), ("local", "nvisy_local", "local")] {
                let path = repoRoot.appendingPathComponent("python/providers/\(folder)").path
                try Data("name = \"\(name)\"\nruntime = \"python\"\nmodule = \"\(module)\"\nlibrary = \"\(path)\"\nenabled = true\n".utf8)
                    .write(to: dir.appendingPathComponent("\(name).toml"))
            }
            let host = PluginHost(directory: dir, librarySearchPath: [], runtimes: [PythonRuntime(venv: venv, logger: content.logger)],
                                  callOptions: ProviderCallOptions(timeout: .seconds(120)), logger: content.logger)
            await WorkspaceProviders.register(on: host, store: content.api.fileStore, chunks: content.api.chunks)
            await host.reload()
            content.api.plugins = host
            let service = RunService(plugins: host, jetStream: content.nats!.connection.jetStream,
                                     checkpoints: PostgresCheckpointStore(client: client, logger: content.logger),
                                     connections: content.api.connections, keyring: content.api.keyring)
            content.api.runService = service
            let worker = RunWorker(runs: content.api.runs, jetStream: service.jetStream,
                                   executor: PipelineExecutor(host: host, checkpoints: service.checkpoints, logger: content.logger),
                                   resolver: { service.resolver(for: $0) },
                                   settings: RunWorkerSettings(workerID: "kb-test", concurrency: 2, heartbeat: .milliseconds(200)),
                                   logger: content.logger)
            return Fixture(content: content, worker: worker, task: Task { try? await worker.run() })
        }

        func stop() async {
            worker.stopAllRuns()
            await task.value
            await content.stop()
        }

        /// Uploads `data` as `name` into `ws` (through the store, as the upload route does).
        func upload(_ ws: String, _ owner: String, _ name: String, _ type: String, _ data: Data, tags: [String] = []) async throws -> String {
            let file = try await content.api.fileStore!.upload(
                FileStore.Upload(workspaceID: UUID(uuidString: ws)!, name: name, declaredType: type, tags: tags,
                                 createdBy: UUID(uuidString: owner)!, declaredSize: nil),
                body: byteStream([ByteBuffer(bytes: data)]), maxBytes: 1 << 24, quota: 0)
            return file.id.text
        }
    }

    /// POST /files/{id}/index, then polls GET until the status is final; answers the last status.
    static func index(_ client: some TestClientProtocol, _ token: String, _ file: String) async throws -> [String: Any] {
        let started = try await client.call(.post, "/api/v1/files/\(file)/index", token: token)
        #expect(started.status == .accepted, "\(started.body)")
        #expect(started.body["status"] as? String == "pending" || started.body["status"] as? String == "indexed", "\(started.body)")
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            let answer = try await client.call(.get, "/api/v1/files/\(file)/index", token: token)
            if let s = answer.body["status"] as? String, s != "pending" { return answer.body }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("indexing \(file) did not finish in 180 s")
        return [:]
    }

    static func search(_ client: some TestClientProtocol, _ token: String, _ ws: String, _ query: String, mode: String, k: Int = 3,
                       extra: [String: Any] = [:]) async throws -> [[String: Any]] {
        var body: [String: Any] = ["query": query, "k": k, "mode": mode]
        body.merge(extra) { $1 }
        let answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/search", token: token, json: body)
        #expect(answer.status == .ok, "\(answer.body)")
        return answer.body["items"] as? [[String: Any]] ?? []
    }

    /// A question, the file whose chunk answers it, and words that chunk must contain.
    struct Question {
        var text: String
        var file: String
        var contains: String
    }

    static let questions: [Question] = [
        Question(text: "How many delivery attempts are made before a webhook delivery fails?", file: "webhooks.md", contains: "8 attempts"),
        Question(text: "Which HMAC algorithm signs the webhook-signature header?", file: "webhooks.md", contains: "HMAC-SHA256"),
        Question(text: "Which private and link-local address ranges are refused as webhook targets?", file: "webhooks.md", contains: "link-local"),
        Question(text: "How large are object store chunks by default?", file: "nats.html", contains: "128 KiB"),
        Question(text: "What happens when a second nats-server starts on a store that is locked with flock?", file: "nats.html", contains: "flock"),
        Question(text: "Which status does a drained cursor return, NVISY_END?", file: "plugin-abi.txt", contains: "NVISY_END"),
        Question(text: "Why is a plugin library opened with RTLD_NODELETE and never closed with dlclose?", file: "plugin-abi.txt", contains: "dlclose"),
    ]

    /// Reworded questions: few of their words are in the answer, so the words alone rank it low.
    static let paraphrases: [Question] = [
        Question(text: "how often do we try again when the receiving server keeps erroring", file: "webhooks.md", contains: "8 attempts"),
        Question(text: "guarding outgoing callbacks against requests to internal machines", file: "webhooks.md", contains: "link-local"),
        Question(text: "prevent two servers from using one storage folder at the same time", file: "nats.html", contains: "flock"),
        Question(text: "unloading a shared library breaks later type casts", file: "plugin-abi.txt", contains: "dlclose"),
        Question(text: "how receivers can check that a callback really came from us", file: "webhooks.md", contains: "verify"),
    ]

    /// The 1-based rank of the question's chunk among `hits`, or nil.
    static func rank(_ q: Question, in hits: [[String: Any]]) -> Int? {
        hits.firstIndex { ($0["fileName"] as? String) == q.file && (($0["text"] as? String) ?? "").contains(q.contains) }.map { $0 + 1 }
    }

    @Test("a corpus in three formats is indexed through the template; each question finds its chunk in the top 3; hybrid beats text on a paraphrase")
    func indexAndSearch() async throws {
        let fixture = try await Fixture.make("kb_search")
        try await fixture.content.app().test(.router) { client in
            let (token, me) = try await client.signup("kb-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token, "KB")
            var files: [String: String] = [:]
            for (name, type) in [("webhooks.md", "text/markdown"), ("nats.html", "text/html"), ("plugin-abi.txt", "text/plain")] {
                let data = try Data(contentsOf: Self.corpus.appendingPathComponent(name))
                files[name] = try await fixture.upload(ws, me, name, type, data, tags: name == "nats.html" ? ["nats"] : ["docs"])
            }
            for (name, id) in files.sorted(by: { $0.key < $1.key }) {
                let status = try await Self.index(client, token, id)
                #expect(status["status"] as? String == "indexed", "\(name): \(status)")
                #expect((status["chunkCount"] as? Int ?? 0) >= 3, "\(name): \(status)")
                #expect(status["model"] as? String == "local/embeddings:default")
            }
            // The default embedding connection was made and recorded as the setting.
            let settings = try await client.call(.get, "/api/v1/workspaces/\(ws)/index-settings", token: token)
            #expect(settings.body["embeddingConnectionId"] is String, "\(settings.body)")

            // Every chunk carries its position, offsets, token count, model and version; sections from the headings.
            let all = try await Self.search(client, token, ws, "webhook retries signature", mode: "hybrid", k: 20)
            #expect(!all.isEmpty)
            for hit in all {
                #expect(hit["chunkId"] is String && hit["fileId"] is String && hit["position"] is Int && hit["tokenCount"] is Int)
                #expect((hit["end"] as? Int ?? 0) > (hit["start"] as? Int ?? 0))
                #expect(hit["fileVersion"] as? Int == 1)
            }
            #expect(all.contains { ($0["section"] as? String)?.contains("Retries, failures, pausing") == true }, "no section path in \(all.map { $0["section"] ?? "-" })")

            for q in Self.questions {
                let hits = try await Self.search(client, token, ws, q.text, mode: "hybrid")
                #expect(Self.rank(q, in: hits) != nil, "\"\(q.text)\": expected \(q.file) ⊃ \"\(q.contains)\" in the top 3, got \(hits.map { "\($0["fileName"] ?? "")#\($0["position"] ?? "")" })")
            }
            var better: [String] = []
            for q in Self.paraphrases {
                let hybrid = Self.rank(q, in: try await Self.search(client, token, ws, q.text, mode: "hybrid", k: 10)) ?? 99
                let text = Self.rank(q, in: try await Self.search(client, token, ws, q.text, mode: "text", k: 10)) ?? 99
                if hybrid < text { better.append("\(q.text): hybrid \(hybrid), text \(text)") }
            }
            #expect(!better.isEmpty, "hybrid never ranked a paraphrased question's chunk above text-only search")

            // Scope: tags and fileIds narrow the search.
            let nats = try await Self.search(client, token, ws, "chunks digest", mode: "hybrid", k: 10, extra: ["tags": ["nats"]])
            #expect(!nats.isEmpty && nats.allSatisfy { $0["fileName"] as? String == "nats.html" })
            let only = try await Self.search(client, token, ws, "signature", mode: "vector", k: 10, extra: ["fileIds": [files["plugin-abi.txt"]!]])
            #expect(!only.isEmpty && only.allSatisfy { $0["fileId"] as? String == files["plugin-abi.txt"] })

            // Validation: a problem naming the field.
            for (body, pointer) in [(["query": "", "k": 3] as [String: Any], "/query"), (["query": "x", "k": 0], "/k"),
                                    (["query": "x", "k": 500], "/k"), (["query": "x", "fileIds": ["nope"]], "/fileIds/0"),
                                    (["query": "a\u{0}b"], "/query")] {
                let answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/search", token: token, json: body)
                #expect(answer.status == .badRequest, "\(body): \(answer.status)")
                #expect(answer.headers[.contentType] == "application/problem+json")
                let pointers = (answer.body["errors"] as? [[String: Any]])?.compactMap { $0["pointer"] as? String } ?? []
                #expect(pointers.contains(pointer), "\(body): \(answer.body)")
            }
            let badMode = try await client.call(.post, "/api/v1/workspaces/\(ws)/search", token: token, json: ["query": "x", "mode": "fuzzy"])
            #expect(badMode.status == .badRequest)

            // A viewer can search; another workspace's owner gets 404.
            let (viewer, viewerID) = try await client.signup("kbv-\(UUID().uuidString.prefix(6))@example.com")
            try await fixture.content.base.database.client.query(
                "INSERT INTO workspace_members (workspace_id, account_id, role) VALUES (\(UUID(uuidString: ws)!), \(UUID(uuidString: viewerID)!), 'viewer')")
            #expect(!(try await Self.search(client, viewer, ws, Self.questions[0].text, mode: "hybrid")).isEmpty)
            let denied = try await client.call(.post, "/api/v1/files/\(files["nats.html"]!)/index", token: viewer)
            #expect(denied.status == .forbidden)
            let (stranger, _) = try await client.signup("kbs-\(UUID().uuidString.prefix(6))@example.com")
            let foreign = try await client.call(.post, "/api/v1/workspaces/\(ws)/search", token: stranger, json: ["query": "webhooks"])
            #expect(foreign.status == .notFound)
            let foreignIndex = try await client.call(.get, "/api/v1/files/\(files["nats.html"]!)/index", token: stranger)
            #expect(foreignIndex.status == .notFound)
        }
        await fixture.stop()
    }

    @Test("re-indexing a new version replaces the old chunks in one step: a search never sees both, nor neither")
    func reindexReplacesAtomically() async throws {
        let fixture = try await Fixture.make("kb_reindex")
        try await fixture.content.app().test(.router) { client in
            let (token, me) = try await client.signup("kbr-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token, "KB")
            func document(_ word: String) -> Data {
                Data((0..<40).map { "Paragraph \($0) of the \(word) edition explains lighthouse maintenance schedules in detail.\n\n" }.joined().utf8)
            }
            let v1 = try await fixture.upload(ws, me, "guide.txt", "text/plain", document("amber"))
            #expect(try await Self.index(client, token, v1)["status"] as? String == "indexed")
            let first = try await Self.search(client, token, ws, "lighthouse maintenance", mode: "text", k: 100)
            #expect(!first.isEmpty && first.allSatisfy { ($0["text"] as? String)?.contains("amber") == true })
            let v1Count = first.count

            // Version 2 of the same name: while it is indexed, searches keep seeing exactly one generation.
            let v2 = try await fixture.upload(ws, me, "guide.txt", "text/plain", document("cobalt"))
            // Stopped by a flag, not by cancelling the task: a cancelled task would cancel its
            // request in flight (a 500 that says nothing about the index).
            let done = StopFlag()
            let watcher = Task { () -> [String] in
                var problems: [String] = []
                while await !done.isSet {
                    let hits = (try? await Self.search(client, token, ws, "lighthouse maintenance", mode: "text", k: 100)) ?? []
                    let amber = hits.filter { ($0["text"] as? String)?.contains("amber") == true }.count
                    let cobalt = hits.filter { ($0["text"] as? String)?.contains("cobalt") == true }.count
                    if hits.isEmpty || (amber > 0 && cobalt > 0) { problems.append("amber \(amber), cobalt \(cobalt)") }
                    try? await Task.sleep(for: .milliseconds(20))
                }
                return problems
            }
            #expect(try await Self.index(client, token, v2)["status"] as? String == "indexed")
            await done.set()
            let seen = await watcher.value
            #expect(seen.isEmpty, "searches saw a mix or nothing during re-indexing: \(seen.prefix(5))")
            let after = try await Self.search(client, token, ws, "lighthouse maintenance", mode: "text", k: 100)
            #expect(after.count == v1Count && after.allSatisfy { ($0["text"] as? String)?.contains("cobalt") == true && $0["fileVersion"] as? Int == 2 })
            // The old version's chunks are gone from the table, not just hidden.
            var left = 0
            for try await n in try await fixture.content.base.database.client.query(
                "SELECT count(*)::int FROM chunks WHERE file_id = \(UUID(uuidString: v1)!)").decode(Int.self) { left = n }
            #expect(left == 0)
            // Indexing the same version again swaps generations too (same count, still searchable).
            #expect(try await Self.index(client, token, v2)["status"] as? String == "indexed")
            #expect(try await Self.search(client, token, ws, "lighthouse maintenance", mode: "text", k: 100).count == v1Count)

            // With indexOnUpload, an upload through the API starts indexing by itself.
            let put = try await client.call(.put, "/api/v1/workspaces/\(ws)/index-settings", token: token, json: ["indexOnUpload": true])
            #expect(put.status == .ok && put.body["indexOnUpload"] as? Bool == true, "\(put.body)")
            let up = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=auto.txt", token: token,
                                          body: ByteBuffer(string: "Automatic indexing of uploads keeps the knowledge base current."),
                                          headers: [.contentType: "text/plain"])
            #expect(up.status == .created)
            let uploaded = try JSONSerialization.jsonObject(with: Data(buffer: up.body)) as? [String: Any]
            let auto = try #require(uploaded?["id"] as? String)
            let deadline = ContinuousClock.now + .seconds(120)
            var autoStatus = ""
            while ContinuousClock.now < deadline, autoStatus != "indexed" {
                autoStatus = try await client.call(.get, "/api/v1/files/\(auto)/index", token: token).body["status"] as? String ?? ""
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(autoStatus == "indexed")

            // A file with no text ends failed, with the reason.
            let empty = try await fixture.upload(ws, me, "empty.txt", "text/plain", Data("   \n".utf8))
            let status = try await Self.index(client, token, empty)
            #expect(status["status"] as? String == "failed")
            #expect((status["reason"] as? String)?.contains("no text") == true, "\(status)")
        }
        await fixture.stop()
    }
}

/// A one-way flag shared between a test and a task it started.
actor StopFlag {
    private(set) var isSet = false
    func set() { isSet = true }
}
