import Foundation
import NvisyCore
import NvisyNATS
import NvisyPostgres
import NvisyTestSupport
import PostgresNIO
import Testing

@Suite("connections and files through the binary", .serialized)
struct ConnectionsEndToEndTests {
    /// A real `moto_server` on loopback that checks signatures (after `INITIAL_NO_AUTH_ACTION_COUNT`
    /// set-up calls): an IAM user with an access key, and a bucket. Returns (endpoint, key id, secret).
    static func withMoto(_ body: (String, String, String) async throws -> Void) async throws {
        let port = try FreePort.loopback()
        var env = ServeHarness.environment
        env["AWS_ACCESS_KEY_ID"] = "setup"
        env["AWS_SECRET_ACCESS_KEY"] = "setup"
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        let pid = try ChildProcess.spawn(ServeHarness.venv + "/bin/moto_server", arguments: ["-H", "127.0.0.1", "-p", "\(port)"],
                                         environment: env, purpose: "moto S3 server")
        defer {
            kill(pid, SIGTERM)
            Task.detached { _ = await ChildProcess.wait(pid, timeout: .seconds(10)) }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while !FreePort.isListening(port) {
            guard ContinuousClock.now < deadline, ChildProcess.isRunning(pid) else { throw NvisyError.unavailable("moto_server did not start") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let endpoint = "http://127.0.0.1:\(port)"
        let script = """
            import boto3, json
            kw = dict(endpoint_url='\(endpoint)', region_name='us-east-1', aws_access_key_id='setup', aws_secret_access_key='setup')
            iam = boto3.client('iam', **kw)
            iam.create_user(UserName='nvisy')
            iam.put_user_policy(UserName='nvisy', PolicyName='all', PolicyDocument=json.dumps(
                {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))
            key = iam.create_access_key(UserName='nvisy')['AccessKey']
            s3 = boto3.client('s3', endpoint_url='\(endpoint)', region_name='us-east-1',
                              aws_access_key_id=key['AccessKeyId'], aws_secret_access_key=key['SecretAccessKey'])
            s3.create_bucket(Bucket='nvisy-e2e')
            print(key['AccessKeyId'], key['SecretAccessKey'])
            """
        let setup = try await ChildProcess.run(ServeHarness.venv + "/bin/python", arguments: ["-c", script], environment: env, purpose: "moto set-up")
        let words = setup.output.split(whereSeparator: \.isWhitespace).map(String.init)
        guard setup.status == 0, words.count >= 2 else { throw NvisyError.internal("moto set-up failed: \(setup.output)") }
        try await body(endpoint, words[words.count - 2], words[words.count - 1])
    }

    @Test("check through the API: filesystem/files and s3/bucket on a real moto_server; wrong credentials → unauthorized, permanent; no secret leaks")
    func checks() async throws {
        let harness = try await ServeHarness.make("e2e_checks")
        try await harness.start()
        // The database was empty: background services waited for the migrations instead of
        // querying tables that did not exist yet.
        #expect(!harness.logText.contains("does not exist"), "log: \(harness.logText.prefix(4000))")
        let (token, ws) = try await harness.owner()
        let root = harness.dataDir.deletingLastPathComponent().appendingPathComponent("fsroot")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)

        let files = try await harness.connection(token, ws, ["name": "local", "provider": "filesystem/files", "config": ["root": root.path]])
        #expect(try await harness.check(token, files).ok)
        let gone = try await harness.connection(token, ws, ["name": "gone", "provider": "filesystem/files", "config": ["root": root.path + "/missing"]])
        let missing = try await harness.check(token, gone)
        #expect(!missing.ok)
        #expect(missing.error?["retry"] as? String == "permanent", "\(missing)")

        var secrets: [String] = []
        try await Self.withMoto { endpoint, keyID, secret in
            secrets = [secret]
            let config: [String: Any] = ["bucket": "nvisy-e2e", "endpoint_url": endpoint]
            let good = try await harness.connection(token, ws, ["name": "s3", "provider": "s3/bucket", "config": config,
                                                                "credentials": ["access_key_id": keyID, "secret_access_key": secret]])
            let ok = try await harness.check(token, good)
            #expect(ok.ok, "\(ok)")
            let wrongSecret = String(secret.reversed())
            secrets.append(wrongSecret)
            let bad = try await harness.connection(token, ws, ["name": "s3-bad", "provider": "s3/bucket", "config": config,
                                                               "credentials": ["access_key_id": keyID, "secret_access_key": wrongSecret]])
            let denied = try await harness.check(token, bad)
            #expect(!denied.ok)
            #expect(denied.error?["kind"] as? String == "unauthorized", "\(denied)")
            #expect(denied.error?["retry"] as? String == "permanent", "\(denied)")
            // A bucket that does not exist, with good credentials: the provider's permanent error, not unauthorized.
            let nobucket = try await harness.connection(token, ws, ["name": "s3-none", "provider": "s3/bucket",
                                                                    "config": ["bucket": "no-such-bucket", "endpoint_url": endpoint],
                                                                    "credentials": ["access_key_id": keyID, "secret_access_key": secret]])
            let absent = try await harness.check(token, nobucket)
            #expect(!absent.ok)
            #expect(absent.error?["kind"] as? String != "unauthorized", "\(absent)")
            // Reading them back shows which fields are set, never their values.
            let list = try await harness.request("GET", "/api/v1/workspaces/\(ws)/connections", token: token)
            #expect((list.body["items"] as? [Any])?.count == 5)
        }
        let everything = harness.answers + "\n" + harness.logText
        #expect(!secrets.isEmpty)
        for secret in secrets { #expect(!everything.contains(secret), "a secret appeared in an answer or a log line") }
        await harness.shutdown()
    }

    @Test("at start the host removes objects that no file row names and keeps the ones that have a row")
    func sweepAtStart() async throws {
        let harness = try await ServeHarness.make("e2e_sweep")
        // The schema first (as a previous host run would have left it), then what a crash leaves.
        let migrate = try await NvisyBinary.run(["migrate", "up"] + (await harness.common), timeout: .seconds(120))
        #expect(migrate.status == 0, "\(migrate.output)")
        let objects = try await harness.nats.connection.jetStream.ensureObjectStore(ObjectStoreConfig(bucket: "nvisy-files"))
        let orphan = "f/" + UUID().uuidString.lowercased(), owned = "f/" + UUID().uuidString.lowercased()
        try await objects.put(orphan, bytes: Array(repeating: 1, count: 200_000))
        try await objects.put(owned, bytes: Array(repeating: 2, count: 1000))
        let client = harness.database.client
        let workspace = UUID()
        try await client.query("INSERT INTO workspaces (id, name) VALUES (\(workspace), 'S')")
        try await client.query("""
            INSERT INTO files (id, workspace_id, name, object_key, status, size, sha256, content_type)
            VALUES (\(UUID()), \(workspace), 'kept.bin', \(owned), 'ready', 1000, 'x', 'application/octet-stream')
            """)
        try await harness.start()
        await #expect(throws: NvisyError.self) { _ = try await objects.info(orphan) }
        #expect(try await objects.info(owned).size == 1000)
        #expect(harness.logText.contains("swept objects without a file row"))
        await harness.shutdown()
    }
}
