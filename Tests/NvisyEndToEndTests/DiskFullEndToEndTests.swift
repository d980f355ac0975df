import Foundation
import NvisyCore
import NvisyTestSupport
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The file store runs out of disk (JetStream's `max_file_store`, what a full disk looks like
/// to nats-server): an upload that does not fit is answered 507 with a problem, leaves nothing
/// half-written behind in the store, and the host keeps serving.
@Suite("End to end: file store full", .serialized)
struct DiskFullEndToEndTests {
    typealias W = WorkerEndToEndTests

    /// Bytes in the file store's stream, from nats-server's monitoring endpoint.
    static func storedBytes(monitor: Int) async -> Int {
        let jsz = await NvisyBinary.get(port: monitor, path: "/jsz?streams=true")?.body ?? ""
        guard let data = jsz.data(using: .utf8), let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return -1 }
        for account in json["account_details"] as? [[String: Any]] ?? [] {
            for stream in account["stream_detail"] as? [[String: Any]] ?? [] where stream["name"] as? String == "OBJ_nvisy-files" {
                return (stream["state"] as? [String: Any])?["bytes"] as? Int ?? -1
            }
        }
        return -1
    }

    /// A nats-server whose JetStream file store holds 6 MB, answering on its monitoring port.
    /// Its ports are free when picked but may be taken before it binds them (other tests pick
    /// ports at the same time): then it exits, and it is started again on new ones.
    static func startSmallStore() async throws -> (W.Started, port: Int, monitor: Int) {
        var lastLog = ""
        for _ in 0..<3 {
            let natsPort = try FreePort.loopback(), monitor = try FreePort.loopback()
            let dir = TestPostgres.temporaryDirectory("e2e-full-nats")
            let config = dir.appendingPathComponent("nats.conf")
            try """
                listen: 127.0.0.1:\(natsPort)
                http: 127.0.0.1:\(monitor)
                jetstream { store_dir: "\(dir.appendingPathComponent("store").path)", max_file_store: 6MB, max_memory_store: 16MB }
                """.write(to: config, atomically: true, encoding: .utf8)
            let nats = try W.start(W.natsServer, ["-c", config.path], name: "e2e-full-nats")
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, kill(nats.pid, 0) == 0 {
                if await NvisyBinary.get(port: monitor, path: "/healthz")?.status == 200 { return (nats, natsPort, monitor) }
                try await Task.sleep(for: .milliseconds(100))
            }
            await W.stop(nats)
            lastLog = nats.output
        }
        throw NvisyError.unavailable("nats-server did not start: \(lastLog)")
    }

    @Test("an upload larger than the store's free space: 507 problem, no partial file, the host keeps serving")
    func fullStoreRefusesCleanly() async throws {
        let (nats, natsPort, monitor) = try await Self.startSmallStore()
        var processes = [nats]
        func cleanUp() async { for p in processes.reversed() { await W.stop(p) } }
        do {
            let (serve, port) = try await NATSRestartEndToEndTests.serve(databaseURL: try await TestPostgres.freshDatabase("e2e_full"),
                                                                         natsPort: natsPort, name: "e2e-full-serve")
            processes.append(serve)
            let (token, ws) = try await CSVLoadScenario.owner(port: port, email: "full@example.com")
            func upload(_ name: String, _ bytes: Int) async throws -> (Int, [String: Any]) {
                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/workspaces/\(ws)/files?name=\(name)")!)
                request.httpMethod = "POST"
                request.timeoutInterval = 60
                request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
                request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
                let (data, response) = try await URLSession.shared.upload(for: request, from: Data(repeating: 7, count: bytes))
                return ((response as? HTTPURLResponse)?.statusCode ?? 0, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
            }
            let (first, _) = try await upload("small.bin", 1 << 20)
            #expect(first == 201)
            let before = await Self.storedBytes(monitor: monitor)
            #expect(before > 1 << 20)
            let (status, problem) = try await upload("huge.bin", 12 << 20)
            #expect(status == 507, "\(status) \(problem)")
            #expect((problem["detail"] as? String ?? "").contains("out of storage space"), "\(problem)")
            let (_, list) = try await W.call(port, "GET", "/api/v1/workspaces/\(ws)/files", token: token)
            let names = (list["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names == ["small.bin"], "\(list)")
            // Nothing half-written: the chunks stored before the store filled up were purged.
            #expect(await Self.storedBytes(monitor: monitor) == before)
            #expect(await NvisyBinary.get(port: port, path: "/health")?.status == 200)
            let (_, small) = try await W.call(port, "GET", "/api/v1/workspaces/\(ws)", token: token)
            #expect(small["id"] as? String == ws, "the API keeps serving")
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }
}
