import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NvisyCore
import NvisyPlugins
import NvisyPostgres
import NvisyRuntime
import NvisyTestSupport
import PostgresNIO
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import NvisyServer

/// Real models for chat tests: the shipped `local` plugin (wordllama, SmolLM2 through
/// llama-cpp-python) on the embedded interpreter, and the `openai` plugin, beside the Swift
/// plugins ContentFixture loads. One interpreter serves the whole test process.
enum ChatTest {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = PythonRuntime(venv: LlamaServers.venv, logger: TestPostgres.logger)

    static func plugins(logger: Logger) async -> PluginHost {
        let dir = TestPostgres.temporaryDirectory("chat-plugins")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let manifests = [
            "filesystem.toml": "name = \"filesystem\"\nruntime = \"swift\"\nlibrary = \"libNvisyFilesystemPlugin.so\"\nenabled = true\n",
            "postgres.toml": "name = \"postgres\"\nruntime = \"swift\"\nlibrary = \"libNvisyPostgresPlugin.so\"\nenabled = true\n",
            "openai.toml": "name = \"openai\"\nruntime = \"swift\"\nlibrary = \"libNvisyOpenAIPlugin.so\"\nenabled = true\n",
            "local.toml": """
                name = "local"
                runtime = "python"
                module = "nvisy_local"
                library = "\(repoRoot.appendingPathComponent("python/providers/local").path)"
                enabled = true
                [defaults.embeddings]
                dimensions = 256
                """,
        ]
        for (name, text) in manifests { try? Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        let libs = PluginLibraryResolver.executableDirectory ?? URL(fileURLWithPath: ".build/debug")
        let host = PluginHost(directory: dir, librarySearchPath: [libs], runtimes: [python],
                              callOptions: ProviderCallOptions(timeout: .seconds(120)), logger: logger)
        await host.reload()
        return host
    }

    /// A small real text about three unrelated topics, one paragraph per chunk.
    static let corpus: [(name: String, paragraphs: [String])] = [
        ("lighthouses.md", [
            "The Bell Rock Lighthouse stands eleven miles off the coast of Angus in Scotland. Robert Stevenson built it between 1807 and 1810 on a reef that is covered by the sea at high tide.",
            "Its light was first lit on 1 February 1811. It is the oldest surviving sea-washed lighthouse in the world, and its keepers lived in the tower until it was automated in 1988.",
        ]),
        ("sourdough.md", [
            "A sourdough starter is a mixture of flour and water fermented by wild yeast and lactic acid bacteria. Feed it every day with equal weights of flour and water to keep it active.",
            "Bake sourdough bread at 250 degrees Celsius in a covered pot for twenty minutes, then uncover it and bake for another twenty minutes until the crust is dark brown.",
        ]),
        ("tides.md", [
            "Tides are caused mainly by the gravitational pull of the Moon on the oceans. Most coasts see two high tides and two low tides every lunar day of about 24 hours and 50 minutes.",
            "Spring tides, with the largest range, happen at new moon and full moon, when the Sun and the Moon pull in line. Neap tides happen at the quarter moons.",
        ]),
    ]

    /// Uploads the corpus into `workspace` and stores its chunks, embedded through `provider`
    /// with `config` (the chat's embedding connection's), as indexing would. Returns chunk ids.
    static func index(_ fixture: ContentFixture, workspace: UUID, owner: UUID, provider: String = "local/embeddings",
                      config: JSONValue = [:]) async throws -> [UUID] {
        let client = fixture.base.database.client
        let embedder = try await fixture.api.plugins!.makeEmbedding(provider, config: config)
        let model = ChatService.modelName(of: ResolvedConnection(provider: provider, config: config))
        var ids: [UUID] = []
        for doc in corpus {
            let text = doc.paragraphs.joined(separator: "\n\n")
            let upload = FileStore.Upload(workspaceID: workspace, name: doc.name, declaredType: "text/markdown", tags: ["kb"],
                                          createdBy: owner, declaredSize: Int64(text.utf8.count))
            let file = try await fixture.api.fileStore!.upload(upload, body: byteStream([ByteBuffer(string: text)]), maxBytes: 1 << 20, quota: 0)
            let vectors = try await embedder.embed(doc.paragraphs)
            let dims = vectors[0].count
            var modelID: Int32 = 0
            for try await id in try await client.query("""
                WITH made AS (INSERT INTO embedding_models (name, dimensions) VALUES (\(model), \(Int32(dims)))
                              ON CONFLICT (name, dimensions) DO NOTHING RETURNING id)
                SELECT id FROM made UNION ALL SELECT id FROM embedding_models WHERE name = \(model) AND dimensions = \(Int32(dims))
                """).decode(Int32.self) { modelID = id }
            var offset = 0
            for (i, paragraph) in doc.paragraphs.enumerated() {
                let id = UUID.v7()
                let literal = "[" + vectors[i].map { String($0) }.joined(separator: ",") + "]"
                try await client.query("""
                    INSERT INTO chunks (id, workspace_id, file_id, file_version, position, page, start_offset, end_offset, text, token_count,
                                        tags, model_id, embedding)
                    VALUES (\(id), \(workspace), \(file.id), \(file.version), \(i), \(i + 1), \(offset), \(offset + paragraph.count), \(paragraph),
                            \(ChatPrompt.estimate(paragraph)), \(["kb"]), \(modelID), \(literal)::vector)
                    """)
                offset += paragraph.count + 2
                ids.append(id)
            }
            try await client.query("""
                INSERT INTO file_index_status (file_id, model_id, workspace_id, file_version, status, chunk_count)
                VALUES (\(file.id), \(modelID), \(workspace), \(file.version), 'indexed', \(doc.paragraphs.count))
                """)
        }
        await embedder.close()
        return ids
    }
}

/// One Server-Sent Event as the client read it, with when its bytes arrived.
struct ReadEvent: Sendable {
    var name: String
    var data: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:] }
    var json: String
    var arrived: ContinuousClock.Instant
}

/// Reads an SSE answer over a real socket (URLSession), event by event as the bytes arrive, and
/// can close the connection half-way (``cancel()``), like a browser tab being closed.
final class SSEClient: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `buffer` and `task` are only touched under `lock`; the continuation is Sendable.
    private let lock = NSLock()
    private var buffer = Data()
    private var task: URLSessionDataTask?
    private var status = 0
    private let continuation: AsyncStream<ReadEvent>.Continuation
    let events: AsyncStream<ReadEvent>
    private var session: URLSession!

    override init() {
        (events, continuation) = AsyncStream<ReadEvent>.makeStream()
        super.init()
        session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: nil)
    }

    /// POSTs `json` to `url` with `Accept: text/event-stream`.
    func start(_ url: String, token: String, json: [String: Any]) throws {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        request.httpBody = try JSONSerialization.data(withJSONObject: json)
        request.timeoutInterval = 300
        let task = session.dataTask(with: request)
        lock.withLock { self.task = task }
        task.resume()
    }

    /// Closes the connection.
    func cancel() {
        lock.withLock { task }?.cancel()
        session.invalidateAndCancel()
    }

    var httpStatus: Int { lock.withLock { status } }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        lock.withLock { status = (response as? HTTPURLResponse)?.statusCode ?? 0 }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let now = ContinuousClock.now
        let ready: [ReadEvent] = lock.withLock {
            buffer.append(data)
            var out: [ReadEvent] = []
            while let end = buffer.range(of: Data("\n\n".utf8)) {
                let block = String(decoding: buffer[buffer.startIndex..<end.lowerBound], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex..<end.upperBound)
                var name = "message", json = ""
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { json += line.dropFirst(6) }
                }
                if !block.hasPrefix(":") { out.append(ReadEvent(name: name, json: json, arrived: now)) }
            }
            return out
        }
        for e in ready { continuation.yield(e) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        continuation.finish()
    }
}
