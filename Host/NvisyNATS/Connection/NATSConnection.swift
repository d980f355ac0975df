import CNats
import Foundation
import Logging
import NvisyCore

/// A connection to a NATS server (or cluster) with JetStream.
///
/// Create one with ``connect(url:name:timeout:requestTimeout:logger:)``; it
/// reconnects on its own, forever, whenever the server goes away, and
/// ``isConnected`` says whether it is connected right now (cheap: one mutex,
/// no I/O — poll it from `GET /health`). Close it with ``close()``.
///
/// Everything else — streams, publishing, consumers, KV buckets and object
/// stores — hangs off ``jetStream``.
public final class NATSConnection: @unchecked Sendable {
    // @unchecked Sendable: all stored properties are `let`s; `handle`/`js` point
    // to nats.c objects that are thread-safe (see CHandle) and are destroyed only
    // in deinit; `events` is itself Sendable.

    let handle: CHandle
    let js: CHandle
    /// The URL the connection was made with.
    public let url: String
    /// How long JetStream API requests (stream info, KV, acks) wait for the server.
    public let requestTimeout: Duration
    /// The fewest replicas every stream, KV bucket and object store made through this connection
    /// gets (3 on a 3-node cluster, so losing a node loses nothing).
    public let replicas: Int
    let logger: Logger
    private let events: Unmanaged<ConnectionEvents>

    private init(handle: CHandle, js: CHandle, url: String, requestTimeout: Duration, replicas: Int, logger: Logger,
                 events: Unmanaged<ConnectionEvents>) {
        self.handle = handle
        self.js = js
        self.url = url
        self.requestTimeout = requestTimeout
        self.replicas = max(1, replicas)
        self.logger = logger
        self.events = events
    }

    deinit {
        jsCtx_Destroy(js.raw)
        natsConnection_Destroy(handle.raw)
        // `events` is deliberately not released: nats.c delivers the disconnected callback of
        // the close above on its own callback thread, possibly after Destroy returned, and a
        // released object there is a use-after-free (seen as a crash in a test that stopped its
        // nats-server). It is a few hundred bytes per connection, and a process opens few.
        _ = events
    }

    /// Connects to `url` (e.g. `nats://127.0.0.1:4222`, or several separated by commas).
    ///
    /// Tries until it is connected or `timeout` has passed, then throws an
    /// ``NvisyError`` of kind `unavailable` saying which URL could not be reached.
    /// Once connected, the connection reconnects by itself without limit.
    public static func connect(
        url: String,
        name: String = "nvisy",
        timeout: Duration = .seconds(10),
        requestTimeout: Duration = .seconds(5),
        replicas: Int = 1,
        logger: Logger = Logger(label: "nvisy.nats")
    ) async throws -> NATSConnection {
        let events = Unmanaged.passRetained(ConnectionEvents(logger: logger, url: url))
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var lastError = "no attempt made"
        while true {
            let attempt: Result<CHandle, NvisyError> = await Blocking.run {
                Self.attempt(url: url, name: name, events: events, attemptTimeoutMS: 2000)
            }
            switch attempt {
            case .success(let nc):
                var jsOpts = jsOptions()
                jsOptions_Init(&jsOpts)
                jsOpts.Wait = requestTimeout.milliseconds
                var ctx: OpaquePointer?
                let s = natsConnection_JetStream(&ctx, nc.raw, &jsOpts)
                guard s == NATS_OK, let ctx else {
                    natsConnection_Destroy(nc.raw)
                    events.release()
                    throw NATSStatus.error(s, "NATS at \(url): cannot create a JetStream context")
                }
                logger.info("connected to NATS", metadata: ["url": "\(url)"])
                return NATSConnection(handle: nc, js: CHandle(ctx), url: url, requestTimeout: requestTimeout, replicas: replicas,
                                      logger: logger, events: events)
            case .failure(let error):
                lastError = error.message
                if error.kind == .invalidInput {
                    events.release()
                    throw error
                }
            }
            if ContinuousClock.now >= deadline { break }
            try? await Task.sleep(for: .milliseconds(200))
            if Task.isCancelled { break }
        }
        events.release()
        throw NvisyError.unavailable(
            "NATS at \(url) is unreachable after \(timeout.secondsDescription): \(lastError). "
            + "Start a nats-server with JetStream (-js) there, or pass another --nats-url.")
    }

    private static func attempt(url: String, name: String, events: Unmanaged<ConnectionEvents>, attemptTimeoutMS: Int64) -> Result<CHandle, NvisyError> {
        var opts: OpaquePointer?
        guard natsOptions_Create(&opts) == NATS_OK, let opts else {
            return .failure(.internal("cannot allocate NATS options"))
        }
        defer { natsOptions_Destroy(opts) }
        // nats.c parses natsOptions_SetURL as one URL: a cluster's list goes to SetServers.
        let urls = url.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var s: natsStatus
        if urls.count > 1 {
            var pointers = urls.map { UnsafePointer<CChar>(strdup($0)) }
            defer { for p in pointers { free(UnsafeMutablePointer(mutating: p)) } }
            s = pointers.withUnsafeMutableBufferPointer { natsOptions_SetServers(opts, $0.baseAddress, Int32($0.count)) }
        } else {
            s = natsOptions_SetURL(opts, url)
        }
        if s != NATS_OK { return .failure(.invalidInput("invalid NATS URL \"\(url)\": \(NATSStatus.text(s))")) }
        natsOptions_SetName(opts, name)
        natsOptions_SetTimeout(opts, attemptTimeoutMS)
        natsOptions_SetAllowReconnect(opts, true)
        natsOptions_SetMaxReconnect(opts, -1)
        natsOptions_SetReconnectWait(opts, 250)
        natsOptions_SetReconnectJitter(opts, 100, 1000)
        natsOptions_SetPingInterval(opts, 5000)
        natsOptions_SetMaxPingsOut(opts, 2)
        // While disconnected, requests (publish acks, JetStream API calls) fail at
        // once with `unavailable` instead of waiting out their timeout.
        natsOptions_SetFailRequestsOnDisconnect(opts, true)
        let closure = UnsafeMutableRawPointer(events.toOpaque())
        natsOptions_SetDisconnectedCB(opts, { _, closure in
            guard let closure else { return }
            Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue().disconnected()
        }, closure)
        natsOptions_SetReconnectedCB(opts, { _, closure in
            guard let closure else { return }
            Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue().reconnected()
        }, closure)
        var nc: OpaquePointer?
        s = natsConnection_Connect(&nc, opts)
        guard s == NATS_OK, let nc else {
            return .failure(NATSStatus.error(s, "connect"))
        }
        return .success(CHandle(nc))
    }

    /// Whether the connection is up right now (not reconnecting, not closed).
    public var isConnected: Bool {
        natsConnection_Status(handle.raw) == NATS_CONN_STATUS_CONNECTED
    }

    /// The connection's state, for health reports.
    public var status: Status {
        switch natsConnection_Status(handle.raw) {
        case NATS_CONN_STATUS_CONNECTED: .connected
        case NATS_CONN_STATUS_CLOSED: .closed
        case NATS_CONN_STATUS_RECONNECTING, NATS_CONN_STATUS_DISCONNECTED: .reconnecting
        default: .connecting
        }
    }

    /// The state of a ``NATSConnection``.
    public enum Status: String, Sendable {
        case connecting, connected, reconnecting, closed
    }

    /// Flushes pending data and closes the connection. Later calls on it fail
    /// with `unavailable`. Safe to call more than once.
    public func close() async {
        let nc = handle
        events.takeUnretainedValue().closing.withLock { $0 = true }
        await Blocking.run {
            _ = natsConnection_FlushTimeout(nc.raw, 1000)
            natsConnection_Close(nc.raw)
        }
    }

    /// JetStream on this connection: streams, publishing, consumers, KV and object stores.
    public var jetStream: JetStream { JetStream(connection: self) }
}

/// Receives nats.c's connection callbacks (on nats.c's own threads) and logs them.
final class ConnectionEvents: Sendable {
    let logger: Logger
    let url: String
    let closing = Locked(false)
    init(logger: Logger, url: String) {
        self.logger = logger
        self.url = url
    }
    func disconnected() {
        if closing.withLock({ $0 }) { return }
        logger.warning("NATS disconnected; reconnecting", metadata: ["url": "\(url)"])
    }
    func reconnected() { logger.info("NATS reconnected", metadata: ["url": "\(url)"]) }
}

extension Duration {
    /// Whole milliseconds (at least 1 for a positive duration).
    var milliseconds: Int64 {
        let (s, atto) = components
        let ms = s * 1000 + atto / 1_000_000_000_000_000
        return ms == 0 && atto > 0 ? 1 : ms
    }

    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }

    var secondsDescription: String {
        let ms = milliseconds
        return ms % 1000 == 0 ? "\(ms / 1000) s" : String(format: "%.1f s", Double(ms) / 1000)
    }
}
