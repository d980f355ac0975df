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
            let written = try FileManager.default.contentsOfDirectory(atPath: target.path).sorted()
            #expect(written == ["a.txt", "b.txt"])
            #expect(try String(contentsOf: target.appendingPathComponent("b.txt"), encoding: .utf8) == "content of b.txt")
        }
        await fixture.stop()
    }
}
