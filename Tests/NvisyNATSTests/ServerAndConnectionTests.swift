import Foundation
import NvisyCore
import Testing
@testable import NvisyNATS

@Suite struct ServerAndConnectionTests {
    @Test func connectsAndReportsHealth() async throws {
        try await withNATS { conn, server in
            #expect(conn.isConnected)
            #expect(conn.status == .connected)
            #expect(await server.isRunning)
        }
    }

    @Test func unreachableServerFailsWithinTheBoundedWait() async throws {
        let start = ContinuousClock.now
        let port = try FreePort.loopback()
        do {
            _ = try await NATSConnection.connect(url: "nats://127.0.0.1:\(port)", timeout: .seconds(1), logger: quietLogger)
            Issue.record("connected to nothing")
        } catch let error as NvisyError {
            #expect(error.kind == .unavailable)
            #expect(error.retry == .transient)
            #expect(error.message.contains("127.0.0.1:\(port)"))
            #expect(error.message.contains("unreachable"))
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func aListOfServersConnectsToTheOneThatIsUp() async throws {
        try await withNATS { _, server in
            let dead = "nats://127.0.0.1:\(try FreePort.loopback())"
            let live = await server.url
            // Whichever order: the dead one is skipped (nats.c's single-URL option cannot take a list).
            for list in ["\(dead),\(live)", "\(live), \(dead)"] {
                let conn = try await NATSConnection.connect(url: list, timeout: .seconds(10), replicas: 3, logger: quietLogger)
                #expect(conn.isConnected)
                #expect(conn.replicas == 3)
                await conn.close()
            }
        }
    }

    @Test func secondServerOnTheSameStoreIsRefused() async throws {
        try await withNATS { _, server in
            let other = EmbeddedNATSServer(storeDirectory: server.storeDirectory, logger: quietLogger)
            do {
                try await other.start()
                Issue.record("second server started on the same store")
                await other.stop()
            } catch let error as NvisyError {
                #expect(error.kind == .conflict)
                #expect(error.message.contains("already in use"))
            }
        }
    }

    @Test func healthTurnsFalseWhileServerIsDownAndRecovers() async throws {
        try await withNATS { conn, server in
            await server.stop()
            #expect(try await poll { !conn.isConnected })
            try await server.start()
            #expect(try await poll(timeout: .seconds(10)) { conn.isConnected })
        }
    }

    @Test func missingBinaryIsAClearError() async throws {
        let server = EmbeddedNATSServer(storeDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-nobin-\(UUID())"),
                                        executable: "/nonexistent/nats-server", logger: quietLogger)
        await #expect(throws: NvisyError.self) { try await server.start() }
    }
}

@Suite struct NATSRuntimeTests {
    @Test func embeddedWhenNoURLAndExternalOtherwise() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-runtime-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let embedded = try await NATSRuntime.start(url: nil, storeDirectory: dir, logger: quietLogger)
        #expect(embedded.isHealthy)
        #expect(embedded.embeddedServer != nil)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("jetstream").path))
        let url = try #require(await embedded.embeddedServer?.url)
        let external = try await NATSRuntime.start(url: url, storeDirectory: dir.appendingPathComponent("unused"), logger: quietLogger)
        #expect(external.embeddedServer == nil)
        #expect(external.isHealthy)
        await external.shutdown()
        #expect(await embedded.embeddedServer?.isRunning == true)
        await embedded.shutdown()
        #expect(await embedded.embeddedServer?.isRunning == false)
    }
}
