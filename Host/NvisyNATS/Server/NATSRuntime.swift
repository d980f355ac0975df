import Foundation
import Logging
import NvisyCore

/// What `nvisy serve` needs from NATS in one value: with a URL it connects to that
/// server and starts nothing; without one it starts an ``EmbeddedNATSServer`` on
/// `storeDirectory` and connects to it. ``shutdown()`` undoes whichever it did.
public final class NATSRuntime: Sendable {
    public let connection: NATSConnection
    /// The server this runtime started, or `nil` when it connected to `--nats-url`.
    public let embeddedServer: EmbeddedNATSServer?

    private init(connection: NATSConnection, embeddedServer: EmbeddedNATSServer?) {
        self.connection = connection
        self.embeddedServer = embeddedServer
    }

    /// - Parameters:
    ///   - url: the NATS URL(s) to use (`--nats-url`), or `nil` for the embedded server.
    ///   - storeDirectory: where the embedded server keeps JetStream (e.g. `<dataDir>/nats`).
    ///   - connectTimeout: how long to wait for an external server before giving up.
    /// - Throws: `unavailable` (NATS unreachable, nats-server missing or failing to start),
    ///   `conflict` (another server already uses the store).
    public static func start(url: String?, storeDirectory: URL, connectTimeout: Duration = .seconds(10), replicas: Int = 1,
                             logger: Logger = Logger(label: "nvisy.nats")) async throws -> NATSRuntime {
        if let url {
            return NATSRuntime(connection: try await NATSConnection.connect(url: url, timeout: connectTimeout, replicas: replicas, logger: logger),
                               embeddedServer: nil)
        }
        let server = EmbeddedNATSServer(storeDirectory: storeDirectory, logger: logger)
        try await server.start()
        do {
            let connection = try await NATSConnection.connect(url: await server.url, timeout: connectTimeout, logger: logger)
            return NATSRuntime(connection: connection, embeddedServer: server)
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Whether NATS is reachable right now (for `GET /health`).
    public var isHealthy: Bool { connection.isConnected }

    /// Closes the connection and stops the embedded server, if any.
    public func shutdown() async {
        await connection.close()
        await embeddedServer?.stop()
    }
}
