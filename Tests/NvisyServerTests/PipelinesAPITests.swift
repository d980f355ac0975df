import Foundation
import Hummingbird
import HummingbirdTesting
import NvisyCore
import NvisyPostgres
import NvisyRuntime
import NvisyTestSupport
import Testing

@testable import NvisyServer

/// Pipelines and runs through the HTTP API, with a real worker pulling the runs from a real
/// nats-server and executing them with the dlopen'd filesystem plugin.
@Suite("API: pipelines and runs")
struct PipelinesAPITests {
    /// The content fixture plus the run service and a worker (stopped by `stop`).
    struct Fixture {
        var content: ContentFixture
        let worker: RunWorker
        let task: Task<Void, Never>

        static func make(_ prefix: String) async throws -> Fixture {
            var content = try await ContentFixture.make(prefix, nats: true)
            let client = content.base.database.client
            // The host's own workspace/files provider beside the dlopen'd ones.
            if let plugins = content.api.plugins {
                await WorkspaceProviders.register(on: plugins, store: content.api.fileStore)
                await plugins.reload()
            }
            let service = RunService(plugins: content.api.plugins!, jetStream: content.nats!.connection.jetStream,
                                     checkpoints: PostgresCheckpointStore(client: client, logger: content.logger),
                                     connections: content.api.connections, keyring: content.api.keyring)
            content.api.runService = service
            let worker = RunWorker(runs: content.api.runs, jetStream: service.jetStream,
                                   executor: PipelineExecutor(host: service.plugins, checkpoints: service.checkpoints, logger: content.logger),
                                   resolver: { service.resolver(for: $0) },
                                   settings: RunWorkerSettings(workerID: "api-test", concurrency: 2, heartbeat: .milliseconds(200)),
                                   logger: content.logger)
            return Fixture(content: content, worker: worker, task: Task { try? await worker.run() })
        }

        func stop() async {
            worker.stopAllRuns()
            await task.value
            await content.stop()
        }
    }

    static func copyPipeline(_ source: String, _ sink: String) -> [String: Any] {
        ["nodes": [["id": "in", "kind": "source", "connection": source], ["id": "out", "kind": "sink", "connection": sink]],
         "edges": [["from": "in", "to": "out"]]]
    }

    func connection(_ client: some TestClientProtocol, _ token: String, _ ws: String, _ name: String, root: URL) async throws -> String {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                           json: ["name": name, "provider": "filesystem/files", "config": ["root": root.path]])
        return try #require(answer.body["id"] as? String, "\(answer.body)")
    }

    @Test("create, validate, enable, run through the queue with live SSE events, list, errors, cancel rules, triggers, delete")
    func lifecycle() async throws {
        let fixture = try await Fixture.make("api_pipes")
        let source = TestPostgres.temporaryDirectory("pipe-src"), target = TestPostgres.temporaryDirectory("pipe-dst")
        try await fixture.content.app().test(.router) { client in
            let (token, _) = try await client.signup("pipes-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token)
            let src = try await connection(client, token, ws, "src", root: source)
            let dst = try await connection(client, token, ws, "dst", root: target)
            for i in 0..<5 { try Data("file \(i)\n".utf8).write(to: source.appendingPathComponent("f\(i).txt")) }

            // An enabled pipeline must compile: every problem comes back with its pointer.
            let broken: [String: Any] = ["nodes": [["id": "in", "kind": "source", "connection": src],
                                                   ["id": "out", "kind": "sink", "connection": UUID().uuidString]],
                                         "edges": [["from": "in", "to": "out"], ["from": "out", "to": "ghost"]]]
            var answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/pipelines", token: token,
                                               json: ["name": "copy", "status": "enabled", "definition": broken])
            #expect(answer.status == .badRequest)
            let pointers = (answer.body["errors"] as? [[String: Any]])?.compactMap { $0["pointer"] as? String } ?? []
            #expect(pointers.count >= 2, "\(answer.body)")
            #expect(pointers.allSatisfy { $0.hasPrefix("/definition/") }, "\(pointers)")
            // A draft may be broken; validate lists the problems.
            answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/pipelines", token: token, json: ["name": "copy", "definition": broken])
            #expect(answer.status == .created, "\(answer.body)")
            #expect(answer.body["status"] as? String == "draft")
            let pipeline = try #require(answer.body["id"] as? String)
            answer = try await client.call(.post, "/api/v1/pipelines/\(pipeline)/validate", token: token)
            #expect(answer.body["valid"] as? Bool == false)
            let codes = Set((answer.body["problems"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String })
            #expect(codes.contains("unknown-node") && codes.contains("unknown-connection"), "\(codes)")
            // Fixed and enabled.
            answer = try await client.call(.patch, "/api/v1/pipelines/\(pipeline)", token: token,
                                           json: ["definition": Self.copyPipeline(src, dst), "status": "enabled"])
            #expect(answer.status == .ok, "\(answer.body)")
            answer = try await client.call(.post, "/api/v1/pipelines/\(pipeline)/validate", token: token)
            #expect(answer.body["valid"] as? Bool == true)
            #expect(answer.body["steps"] as? [String] == ["in", "out"])
            // Disabled pipelines do not run.
            answer = try await client.call(.patch, "/api/v1/pipelines/\(pipeline)", token: token, json: ["status": "disabled"])
            answer = try await client.call(.post, "/api/v1/pipelines/\(pipeline)/runs", token: token)
            #expect(answer.status == .conflict)
            _ = try await client.call(.patch, "/api/v1/pipelines/\(pipeline)", token: token, json: ["status": "enabled"])

            // A run: queued (202), executed by the worker, watched over SSE until its end.
            answer = try await client.call(.post, "/api/v1/pipelines/\(pipeline)/runs", token: token)
            #expect(answer.status == .accepted, "\(answer.body)")
            #expect(answer.body["status"] as? String == "queued")
            #expect((answer.body["definition"] as? [String: Any])?["nodes"] != nil, "a run keeps its definition snapshot")
            let run = try #require(answer.body["id"] as? String)
            let events = try await client.raw(.get, "/api/v1/runs/\(run)/events", token: token)
            #expect(events.status == .ok)
            #expect(events.headers[.contentType]?.hasPrefix("text/event-stream") == true)
            let stream = String(buffer: events.body)
            #expect(stream.contains("event: status"))
            #expect(stream.contains("event: end"))
            let end = try #require(stream.components(separatedBy: "event: end\ndata: ").last?.components(separatedBy: "\n").first)
            let final = try #require(try JSONSerialization.jsonObject(with: Data(end.utf8)) as? [String: Any])
            #expect(final["status"] as? String == "completed", "\(final)")
            answer = try await client.call(.get, "/api/v1/runs/\(run)", token: token)
            #expect(answer.body["status"] as? String == "completed")
            #expect(answer.body["written"] as? Int == 5)
            #expect(answer.body["attempts"] as? Int == 1)
            let nodes = answer.body["nodes"] as? [[String: Any]] ?? []
            #expect(nodes.map { $0["nodeId"] as? String } == ["in", "out"])
            for i in 0..<5 {
                #expect(try String(contentsOf: target.appendingPathComponent("f\(i).txt"), encoding: .utf8) == "file \(i)\n")
            }
            answer = try await client.call(.get, "/api/v1/workspaces/\(ws)/runs?status=completed&pipelineId=\(pipeline)", token: token)
            #expect((answer.body["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [run])
            answer = try await client.call(.get, "/api/v1/runs/\(run)/errors", token: token)
            #expect(answer.status == .ok)
            #expect((answer.body["items"] as? [Any])?.isEmpty == true)
            answer = try await client.call(.get, "/api/v1/runs/\(run)/errors?cursor=nonsense", token: token)
            #expect(answer.status == .badRequest)
            answer = try await client.call(.post, "/api/v1/runs/\(run)/cancel", token: token)
            #expect(answer.status == .conflict, "a finished run cannot be cancelled")

            // Triggers: a bad schedule names the field; a good one sets the next run time.
            answer = try await client.call(.patch, "/api/v1/pipelines/\(pipeline)", token: token, json: ["triggers": ["schedule": "61 * * * *"]])
            #expect(answer.status == .badRequest)
            #expect(((answer.body["errors"] as? [[String: Any]])?.first?["pointer"] as? String) == "/triggers/schedule")
            answer = try await client.call(.patch, "/api/v1/pipelines/\(pipeline)", token: token, json: ["triggers": ["schedule": "@hourly"]])
            #expect(answer.status == .ok)
            #expect(answer.body["nextRunAt"] != nil)
            #expect((answer.body["triggers"] as? [String: Any])?["schedule"] as? String == "@hourly")

            // The pipeline goes; its run and snapshot stay.
            answer = try await client.call(.delete, "/api/v1/pipelines/\(pipeline)", token: token)
            #expect(answer.status == .noContent)
            answer = try await client.call(.get, "/api/v1/runs/\(run)", token: token)
            #expect(answer.status == .ok)
            #expect(answer.body["pipelineName"] as? String == "copy")
        }
        await fixture.stop()
    }

    @Test("a pipeline cannot use another workspace's connection; a queued run is cancelled at once")
    func isolationAndCancel() async throws {
        let fixture = try await Fixture.make("api_pipes_iso")
        fixture.worker.stopAllRuns()   // no worker: runs stay queued
        try await fixture.content.app().test(.router) { client in
            let (token, _) = try await client.signup("iso-\(UUID().uuidString.prefix(6))@example.com")
            let mine = try await client.workspace(token, "Mine")
            let (other, _) = try await client.signup("iso2-\(UUID().uuidString.prefix(6))@example.com")
            let theirs = try await client.workspace(other, "Theirs")
            let foreign = try await connection(client, other, theirs, "secret-files", root: TestPostgres.temporaryDirectory("foreign"))
            let own = try await connection(client, token, mine, "files", root: TestPostgres.temporaryDirectory("own"))
            var answer = try await client.call(.post, "/api/v1/workspaces/\(mine)/pipelines", token: token,
                                               json: ["name": "steal", "definition": Self.copyPipeline(foreign, own)])
            let stealing = try #require(answer.body["id"] as? String)
            answer = try await client.call(.post, "/api/v1/pipelines/\(stealing)/validate", token: token)
            let problems = answer.body["problems"] as? [[String: Any]] ?? []
            #expect(problems.contains { $0["code"] as? String == "unknown-connection" && $0["nodeId"] as? String == "in" }, "\(problems)")
            answer = try await client.call(.post, "/api/v1/pipelines/\(stealing)/runs", token: token)
            #expect(answer.status == .badRequest)

            answer = try await client.call(.post, "/api/v1/workspaces/\(mine)/pipelines", token: token,
                                           json: ["name": "ok", "definition": Self.copyPipeline(own, own)])
            let ok = try #require(answer.body["id"] as? String)
            answer = try await client.call(.post, "/api/v1/pipelines/\(ok)/runs", token: token)
            let run = try #require(answer.body["id"] as? String)
            answer = try await client.call(.post, "/api/v1/runs/\(run)/cancel", token: token)
            #expect(answer.status == .accepted)
            #expect(answer.body["status"] as? String == "cancelled")
            // The other workspace's owner sees nothing of it.
            answer = try await client.call(.get, "/api/v1/runs/\(run)", token: other)
            #expect(answer.status == .notFound)
            let events = try await client.raw(.get, "/api/v1/runs/\(run)/events", token: token)
            #expect(String(buffer: events.body).contains("\"status\":\"cancelled\""))
        }
        await fixture.stop()
    }

    @Test("workspace/files reads the workspace's own uploaded files (never another workspace's) into a pipeline")
    func workspaceFiles() async throws {
        let fixture = try await Fixture.make("api_pipes_files")
        let store = try #require(fixture.content.api.fileStore)
        let target = TestPostgres.temporaryDirectory("ws-files-dst")
        try await fixture.content.app().test(.router) { client in
            let (token, me) = try await client.signup("wsf-\(UUID().uuidString.prefix(6))@example.com")
            let mine = try await client.workspace(token, "Mine")
            let (other, them) = try await client.signup("wsf2-\(UUID().uuidString.prefix(6))@example.com")
            let theirs = try await client.workspace(other, "Theirs")
            func upload(_ ws: String, _ owner: String, _ name: String, _ tags: [String]) async throws {
                _ = try await store.upload(FileStore.Upload(workspaceID: UUID(uuidString: ws)!, name: name, declaredType: "text/plain", tags: tags,
                                                            createdBy: UUID(uuidString: owner)!, declaredSize: nil),
                                           body: byteStream([ByteBuffer(string: "content of \(name)")]), maxBytes: 1 << 20, quota: 0)
            }
            try await upload(mine, me, "a.txt", ["in"])
            try await upload(mine, me, "b.txt", ["in", "x"])
            try await upload(mine, me, "skip.txt", [])
            try await upload(theirs, them, "secret.txt", ["in"])
            // Even a config naming the other workspace reads only this one.
            var answer = try await client.call(.post, "/api/v1/workspaces/\(mine)/connections", token: token,
                                               json: ["name": "uploads", "provider": "workspace/files", "config": ["tag": "in", "workspaceId": theirs]])
            let files = try #require(answer.body["id"] as? String, "\(answer.body)")
            answer = try await client.call(.post, "/api/v1/connections/\(files)/check", token: token)
            #expect(answer.body["ok"] as? Bool == true, "\(answer.body)")
            let dst = try await connection(client, token, mine, "out", root: target)
            answer = try await client.call(.post, "/api/v1/workspaces/\(mine)/pipelines", token: token,
                                           json: ["name": "export", "status": "enabled", "definition": Self.copyPipeline(files, dst)])
            let pipeline = try #require(answer.body["id"] as? String, "\(answer.body)")
            answer = try await client.call(.post, "/api/v1/pipelines/\(pipeline)/runs", token: token)
            let run = try #require(answer.body["id"] as? String, "\(answer.body)")
            _ = try await client.raw(.get, "/api/v1/runs/\(run)/events", token: token)
            answer = try await client.call(.get, "/api/v1/runs/\(run)", token: token)
            #expect(answer.body["status"] as? String == "completed", "\(answer.body)")
            #expect(answer.body["written"] as? Int == 2)
            // The source counted ahead (for the ETA): this workspace's two files tagged "in".
            let nodes = answer.body["nodes"] as? [[String: Any]] ?? []
            #expect(nodes.first { $0["kind"] as? String == "source" }?["expected"] as? Int == 2, "\(answer.body)")
            #expect(nodes.first { $0["kind"] as? String == "sink" }?["expected"] == nil, "\(answer.body)")
            let written = try FileManager.default.contentsOfDirectory(atPath: target.path).sorted()
            #expect(written == ["a.txt", "b.txt"])
            #expect(try String(contentsOf: target.appendingPathComponent("b.txt"), encoding: .utf8) == "content of b.txt")
        }
        await fixture.stop()
    }

    @Test("an upload starts the pipelines with onFileUpload; their workspace/files source reads just that file")
    func uploadTrigger() async throws {
        let fixture = try await Fixture.make("api_pipes_trigger")
        let target = TestPostgres.temporaryDirectory("trigger-dst")
        try await fixture.content.app().test(.router) { client in
            let (token, _) = try await client.signup("trg-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token)
            var answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/connections", token: token,
                                               json: ["name": "uploaded", "provider": "workspace/files", "config": ["trigger": true]])
            let uploaded = try #require(answer.body["id"] as? String, "\(answer.body)")
            let dst = try await connection(client, token, ws, "out", root: target)
            answer = try await client.call(.post, "/api/v1/workspaces/\(ws)/pipelines", token: token,
                                           json: ["name": "on-upload", "status": "enabled", "definition": Self.copyPipeline(uploaded, dst),
                                                  "triggers": ["onFileUpload": true]])
            #expect(answer.status == .created, "\(answer.body)")
            // A draft with the same trigger does not fire.
            _ = try await client.call(.post, "/api/v1/workspaces/\(ws)/pipelines", token: token,
                                      json: ["name": "draft", "definition": Self.copyPipeline(uploaded, dst), "triggers": ["onFileUpload": true]])
            let first = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=first.txt", token: token, body: ByteBuffer(string: "one"))
            #expect(first.status == .created)
            let second = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=second.txt", token: token, body: ByteBuffer(string: "two"))
            #expect(second.status == .created)
            answer = try await client.call(.get, "/api/v1/workspaces/\(ws)/runs", token: token)
            let runs = answer.body["items"] as? [[String: Any]] ?? []
            #expect(runs.count == 2, "one run per upload, none for the draft: \(runs.count)")
            #expect(runs.allSatisfy { $0["trigger"] as? String == "file" })
            for run in runs {
                let id = try #require(run["id"] as? String)
                _ = try await client.raw(.get, "/api/v1/runs/\(id)/events", token: token)
                let done = try await client.call(.get, "/api/v1/runs/\(id)", token: token)
                #expect(done.body["status"] as? String == "completed", "\(done.body)")
                #expect(done.body["written"] as? Int == 1, "each run copies only its own file")
                let name = (done.body["triggerDetail"] as? [String: Any])?["name"] as? String
                #expect(name == "first.txt" || name == "second.txt")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: target.path).sorted() == ["first.txt", "second.txt"])
        }
        await fixture.stop()
    }

    @Test("a file deleted while a run of its workspace is active stays readable until the run ends")
    func deletedFileStaysForActiveRuns() async throws {
        let fixture = try await Fixture.make("api_pipes_delete")
        fixture.worker.stopAllRuns()
        let store = try #require(fixture.content.api.fileStore)
        try await fixture.content.app().test(.router) { client in
            let (token, _) = try await client.signup("del-\(UUID().uuidString.prefix(6))@example.com")
            let ws = try await client.workspace(token)
            let uploaded = try await client.raw(.post, "/api/v1/workspaces/\(ws)/files?name=in-use.txt", token: token, body: ByteBuffer(string: "still here"))
            let fileJSON = try #require(try JSONSerialization.jsonObject(with: Data(buffer: uploaded.body)) as? [String: Any])
            let fileID = try #require(fileJSON["id"] as? String)
            let record = try #require(try await fixture.content.api.files.find(id: UUID(uuidString: fileID)!))
            // A run of the workspace is running (claimed by a worker).
            let run = try await fixture.content.api.runs.create(NewRun(workspaceID: UUID(uuidString: ws)!, pipelineID: nil, pipelineName: "p",
                                                                       definitionJSON: #"{"nodes":[],"edges":[]}"#, createdBy: nil))
            _ = try #require(try await fixture.content.api.runs.claim(id: run.id, worker: "w", lease: .seconds(60)))
            var answer = try await client.call(.delete, "/api/v1/files/\(fileID)", token: token)
            #expect(answer.status == .noContent)
            answer = try await client.call(.get, "/api/v1/files/\(fileID)", token: token)
            #expect(answer.status == .notFound, "gone for users at once")
            #expect(await store.reapDeleted() == 0)
            #expect(try await store.objects.bytes(record.objectKey) == Array("still here".utf8), "the running run can still read it")
            // The run ends: the bytes go.
            _ = try await fixture.content.api.runs.finish(id: run.id, worker: "w", status: .completed, error: nil, errorRetry: nil,
                                                          RunHeartbeat(progressJSON: "null", read: 0, written: 0, failed: 0)) { _ in nil }
            #expect(await store.reapDeleted() == 1)
            await #expect(throws: NvisyError.self) { _ = try await store.objects.bytes(record.objectKey) }
            #expect(try await fixture.content.api.files.find(id: record.id) == nil)
        }
        await fixture.stop()
    }
}
