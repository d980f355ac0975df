import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NvisyCore
import NvisyNATS
import NvisyPlugins
import NvisyPostgres
import NvisyTestSupport
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import NvisyServer

/// Every log line of a test, kept in memory so a test can search them for secrets.
final class CapturedLogs: Sendable {
    let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func logger(_ label: String = "nvisy.test.capture") -> Logger {
        var logger = Logger(label: label) { label in CapturingLogHandler(label: label, sink: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let label: String
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        sink.lines.withLock { $0.append("\(event.level) \(label): \(event.message) \(all)") }
    }
}

/// The API with connections (plugins + keyring) and files (a real nats-server object store).
struct ContentFixture {
    let base: APIFixture
    var api: APIDependencies
    let nats: NATSRuntime?
    let logs: CapturedLogs
    let logger: Logger

    static func make(_ prefix: String, nats withNATS: Bool = false, configure: (inout APISettings) -> Void = { _ in }) async throws -> ContentFixture {
        let logs = CapturedLogs()
        let logger = logs.logger()
        let base = try await APIFixture.make(prefix, configure: configure)
        var api = APIDependencies(client: base.database.client, keys: base.api.keys, hasher: base.api.hasher, settings: base.api.settings, logger: logger)
        let keyDir = TestPostgres.temporaryDirectory("keys")
        try FileManager.default.createDirectory(at: keyDir, withIntermediateDirectories: true)
        let keyPath = keyDir.appendingPathComponent("master.key").path
        let key = try MasterKey.generate()
        try key.write(to: keyPath)
        api.keyring = CredentialKeyring(primary: key, primaryPath: keyPath, pendingPath: keyPath + ".next")
        api.plugins = await Self.plugins(logger: logger)
        var nats: NATSRuntime?
        if withNATS {
            let runtime = try await NATSRuntime.start(url: nil, storeDirectory: TestPostgres.temporaryDirectory("nats"), logger: logger)
            nats = runtime
            api.fileStore = try await FileStore.open(nats: runtime.connection, files: api.files, logger: logger)
        }
        return ContentFixture(base: base, api: api, nats: nats, logs: logs, logger: logger)
    }

    /// filesystem/files and postgres/table from the libraries `swift build` put next to the test binary.
    static func plugins(logger: Logger) async -> PluginHost {
        let dir = TestPostgres.temporaryDirectory("plugins")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? Data("name = \"filesystem\"\nruntime = \"swift\"\nlibrary = \"libNvisyFilesystemPlugin.so\"\nenabled = true\n".utf8)
            .write(to: dir.appendingPathComponent("filesystem.toml"))
        try? Data("name = \"postgres\"\nruntime = \"swift\"\nlibrary = \"libNvisyPostgresPlugin.so\"\nenabled = true\n".utf8)
            .write(to: dir.appendingPathComponent("postgres.toml"))
        let libs = PluginLibraryResolver.executableDirectory ?? URL(fileURLWithPath: ".build/debug")
        let host = PluginHost(directory: dir, librarySearchPath: [libs], logger: logger)
        await host.reload()
        return host
    }

    func app() -> some ApplicationProtocol {
        let config = try! ConfigurationLoader(flags: [:], environment: [:]).load()
        var deps = ApplicationDependencies()
        deps.api = api
        deps.plugins = api.plugins
        return buildApplication(configuration: config, dependencies: deps, logger: logger)
    }

    func stop() async {
        await nats?.shutdown()
        await base.stop()
    }
}

extension TestClientProtocol {
    /// Sends raw bytes; returns status, headers and the body bytes.
    func raw(_ method: HTTPRequest.Method, _ uri: String, token: String?, body: ByteBuffer? = nil,
             headers extra: HTTPFields = [:]) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer) {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { ($0.status, $0.headers, $0.body) }
    }

    /// Creates a workspace and returns its id.
    func workspace(_ token: String, _ name: String = "W") async throws -> String {
        let answer = try await call(.post, "/api/v1/workspaces", token: token, json: ["name": name])
        guard let id = answer.body["id"] as? String else { throw NvisyError.internal("workspace: \(answer.status) \(answer.body)") }
        return id
    }
}

/// A finished stream of the given chunks (an upload body).
func byteStream(_ chunks: [ByteBuffer]) -> AsyncStream<ByteBuffer> {
    AsyncStream { continuation in
        for chunk in chunks { continuation.yield(chunk) }
        continuation.finish()
    }
}

/// A request to a live test server over a real socket with URLSession, for big bodies:
/// HummingbirdTesting's live client gives a whole request 20 s, which a 64 MiB round trip in a
/// debug build on a busy 2-core machine can exceed without anything being wrong.
func socketRequest(port: Int, _ method: String, _ path: String, token: String, body: Data? = nil,
                   contentType: String? = nil) async throws -> (status: Int, response: HTTPURLResponse, body: Data) {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.httpMethod = method
    request.timeoutInterval = 300
    request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
    if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
    request.httpBody = body
    let (data, response) = try await URLSession.shared.data(for: request)
    guard let http = response as? HTTPURLResponse else { throw NvisyError.internal("not an HTTP response") }
    return (http.statusCode, http, data)
}
