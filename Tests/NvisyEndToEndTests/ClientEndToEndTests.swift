import Foundation
import NvisyCore
import NvisyTestSupport
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The `nvisy` client commands, run as a person or a script would run them, against a live
/// `nvisy serve` (embedded Postgres and NATS, the real filesystem plugin): login, workspaces,
/// connections, pipelines, runs followed over SSE, uploads, plugins, and the exit codes.
@Suite("End to end: the nvisy client", .serialized)
struct ClientEndToEndTests {
    /// A started server and a private config dir (the credentials file goes there).
    struct Server {
        let pid: pid_t
        let port: Int
        let config: URL
        /// The server's plugins.d: the filesystem plugin only, so a test can add manifests.
        let plugins: URL
        var url: String { "http://127.0.0.1:\(port)" }

        /// Runs `nvisy args…` as the logged-in user of this server.
        func nvisy(_ arguments: [String], environment: [String: String] = [:]) async throws -> ChildProcess.Result {
            var env = ["XDG_CONFIG_HOME": config.path, "HOME": config.path]
            for (k, v) in environment { env[k] = v }
            return try await NvisyBinary.run(arguments, environment: env, timeout: .seconds(120))
        }
    }

    static func startServer() async throws -> Server {
        let dir = TestPostgres.temporaryDirectory("nvisy-client")
        let port = try FreePort.loopback()
        let plugins = TestPostgres.temporaryDirectory("nvisy-client-plugins")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "plugins.d/filesystem.toml", toPath: plugins.appendingPathComponent("filesystem.toml").path)
        // Its log, shown when it does not come up (a cold embedded PostgreSQL is slow on a busy machine).
        let log = dir.appendingPathExtension("log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let fd = open(log.path, O_WRONLY | O_APPEND)
        defer { close(fd) }
        let pid = try ChildProcess.spawn(NvisyBinary.path, arguments: ["serve", "--data-dir", dir.path, "--port", "\(port)", "--log-level", "warning",
                                                                     "--plugins-dir", plugins.path],
                                         // Flags say it all: another suite's NVISY_* variable (set for a
                                         // moment in this process) would make serve refuse to start.
                                         environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NVISY_") },
                                         stdoutFD: fd, purpose: "nvisy serve")
        var healthy = false
        for _ in 0..<720 where !healthy && ChildProcess.isRunning(pid) {
            healthy = await NvisyBinary.get(port: port, path: "/health")?.status == 200
            if !healthy { try await Task.sleep(for: .milliseconds(250)) }
        }
        if !healthy {
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            Issue.record("nvisy serve did not become healthy: \(output.suffix(3000))")
        }
        let config = TestPostgres.temporaryDirectory("nvisy-client-config")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        return Server(pid: pid, port: port, config: config, plugins: plugins)
    }

    static func stop(_ server: Server) async {
        kill(server.pid, SIGINT)
        if await ChildProcess.wait(server.pid, timeout: .seconds(60)) == nil { kill(server.pid, SIGKILL) }
    }

    /// The JSON object a `--json` command printed (its whole output must parse).
    static func object(_ result: ChildProcess.Result) throws -> [String: Any] {
        let parsed = try JSONSerialization.jsonObject(with: Data(result.output.utf8))
        return try #require(parsed as? [String: Any], "not a JSON object: \(result.output)")
    }

    @Test("login, workspaces, connections, pipelines, run --follow (JSON and plain), exit codes, uploads, plugins")
    func clientWalkThrough() async throws {
        let server = try await Self.startServer()
        do {
            try await walkThrough(server)
        } catch {
            await Self.stop(server)
            throw error
        }
        await Self.stop(server)
    }

    func walkThrough(_ server: Server) async throws {
        try #require(await NvisyBinary.get(port: server.port, path: "/health")?.status == 200, "serve did not start")

        // Signed out, every client command says how to sign in.
        let signedOut = try await server.nvisy(["workspaces", "list", "--server", server.url])
        #expect(signedOut.status == 1)
        #expect(signedOut.output.contains("nvisy login"), "\(signedOut.output)")

        // login --signup stores the token with the server, mode 0600.
        let login = try await server.nvisy(["login", "--server", server.url, "--signup", "--email", "ada@example.com",
                                            "--password", "correct horse battery"])
        #expect(login.status == 0, "\(login.output)")
        let credentials = server.config.appendingPathComponent("nvisy/credentials")
        let mode = try FileManager.default.attributesOfItem(atPath: credentials.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: credentials)) as? [String: Any])
        #expect(stored["server"] as? String == server.url)
        #expect((stored["token"] as? String)?.isEmpty == false)

        // A wrong password: one clear line, exit 1, the stored login untouched.
        let wrong = try await server.nvisy(["login", "--server", server.url, "--email", "ada@example.com", "--password", "not the password"])
        #expect(wrong.status == 1)
        #expect(wrong.output.hasPrefix("nvisy: 401"), "\(wrong.output)")
        #expect(wrong.output.split(separator: "\n").count == 1)
        #expect(try JSONSerialization.jsonObject(with: Data(contentsOf: credentials)) as? [String: Any] as NSDictionary? == stored as NSDictionary)

        // NVISY_TOKEN overrides the stored token.
        let bogus = try await server.nvisy(["workspaces", "list"], environment: ["NVISY_TOKEN": "nvisy_bogus"])
        #expect(bogus.status == 1)
        #expect(bogus.output.contains("401"), "\(bogus.output)")

        let workspace = try await server.nvisy(["workspaces", "create", "Demo", "--json"])
        #expect(workspace.status == 0, "\(workspace.output)")
        let wsID = try #require(try Self.object(workspace)["id"] as? String)
        let table = try await server.nvisy(["workspaces"])
        #expect(table.output.contains("NAME") && table.output.contains("Demo") && table.output.contains(wsID), "\(table.output)")

        // Connections: a validation problem prints its field pointer.
        let source = TestPostgres.temporaryDirectory("client-in"), target = TestPostgres.temporaryDirectory("client-out")
        for dir in [source, target] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        for i in 0..<25 { try Data("line \(i)\n".utf8).write(to: source.appendingPathComponent("doc-\(i).txt")) }
        let bad = try await server.nvisy(["connections", "create", "bad", "--provider", "filesystem/files", "--config", #"{"root":5}"#])
        #expect(bad.status == 1)
        #expect(bad.output.contains("/config"), "\(bad.output)")
        #expect(!bad.output.contains("Fatal error"))
        for (name, dir) in [("in", source.path), ("out", target.path), ("gone", "/nonexistent/nvisy-client")] {
            let made = try await server.nvisy(["connections", "create", name, "--provider", "filesystem/files", "--config", #"{"root":"\#(dir)"}"#])
            #expect(made.status == 0, "\(made.output)")
        }
        let connections = try await server.nvisy(["connections", "list", "--json"])
        let ids = Dictionary(uniqueKeysWithValues: (try Self.object(connections)["items"] as? [[String: Any]] ?? [])
            .map { ($0["name"] as? String ?? "", $0["id"] as? String ?? "") })
        #expect(ids.count == 3)

        func definition(_ from: String) -> String {
            #"{"nodes":[{"id":"in","kind":"source","connection":"\#(ids[from] ?? "")"},{"id":"out","kind":"sink","connection":"\#(ids["out"] ?? "")"}],"edges":[{"from":"in","to":"out"}]}"#
        }
        for (name, from) in [("copy", "in"), ("broken", "gone")] {
            let made = try await server.nvisy(["pipelines", "create", name, "--enabled", "--definition", definition(from)])
            #expect(made.status == 0, "\(made.output)")
        }
        let pipelines = try await server.nvisy(["pipelines", "list"])
        #expect(pipelines.output.contains("copy") && pipelines.output.contains("broken"), "\(pipelines.output)")

        // run --follow --json: the final run, parseable, exit 0; the files arrived.
        let followed = try await server.nvisy(["pipelines", "run", "copy", "--follow", "--json"])
        #expect(followed.status == 0, "\(followed.output)")
        let run = try Self.object(followed)
        #expect(run["status"] as? String == "completed")
        #expect(run["written"] as? Int == 25)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.path).filter { $0.hasPrefix("doc-") }.count == 25)

        // Plain (not a terminal): one line per update, then the summary.
        let plain = try await server.nvisy(["pipelines", "run", "copy", "--follow"])
        #expect(plain.status == 0, "\(plain.output)")
        #expect(plain.output.contains("completed") && plain.output.contains("written 25"), "\(plain.output)")
        #expect(!plain.output.contains("\u{1B}["), "no terminal escapes when stdout is not a terminal")

        // A run that fails: exit 1 and the run's error.
        let failed = try await server.nvisy(["pipelines", "run", "broken", "--follow"])
        #expect(failed.status == 1, "\(failed.output)")
        #expect(failed.output.contains("failed"), "\(failed.output)")
        let runs = try await server.nvisy(["runs", "list", "--json"])
        let items = try Self.object(runs)["items"] as? [[String: Any]] ?? []
        #expect(items.count == 3)
        let runID = try #require(run["id"] as? String)
        let again = try await server.nvisy(["runs", "follow", runID, "--json"])
        #expect(again.status == 0)
        #expect(try Self.object(again)["id"] as? String == runID)
        let notAnID = try await server.nvisy(["runs", "get", "nope"])
        #expect(notAnID.status != 0 && notAnID.output.contains("not a run id"), "\(notAnID.output)")

        // Upload: the file's size and hash come back.
        let upload = TestPostgres.temporaryDirectory("client-upload").appendingPathExtension("bin")
        let bytes = Data((0..<300_000).map { UInt8($0 % 251) })
        try bytes.write(to: upload)
        let uploaded = try await server.nvisy(["files", "upload", upload.path, "--json"])
        #expect(uploaded.status == 0, "\(uploaded.output)")
        let file = try Self.object(uploaded)
        #expect(file["size"] as? Int == bytes.count)
        #expect(file["name"] as? String == upload.lastPathComponent)

        let plugins = try await server.nvisy(["plugins", "status", "--json"])
        #expect(plugins.status == 0, "\(plugins.output)")
        #expect(plugins.output.contains("\"filesystem\""))

        // A scaffolded Python provider passes its own tests and loads into the running host on reload.
        let scaffolds = TestPostgres.temporaryDirectory("client-scaffold")
        let made = try await server.nvisy(["plugins", "new", "python", "hello", "--kind", "source", "--dir", scaffolds.path])
        #expect(made.status == 0, "\(made.output)")
        let folder = scaffolds.appendingPathComponent("hello")
        let pytest = try await ChildProcess.run(FileManager.default.currentDirectoryPath + "/.venv/bin/python",
                                                arguments: ["-m", "pytest", "-q", "-p", "no:cacheprovider", folder.path], timeout: .seconds(120), purpose: "pytest")
        #expect(pytest.status == 0, "\(pytest.output)")
        #expect(pytest.output.contains("3 passed"), "\(pytest.output)")
        let twice = try await server.nvisy(["plugins", "new", "python", "hello", "--kind", "source", "--dir", scaffolds.path])
        #expect(twice.status == 1 && twice.output.contains("already exists"), "\(twice.output)")
        let badName = try await server.nvisy(["plugins", "new", "python", "Hello-World", "--kind", "sink", "--dir", scaffolds.path])
        #expect(badName.status == 1 && badName.output.contains("lower case"), "\(badName.output)")
        try FileManager.default.copyItem(at: folder.appendingPathComponent("hello.toml"), to: server.plugins.appendingPathComponent("hello.toml"))
        let reload = try await server.nvisy(["plugins", "reload", "--json"])
        #expect(reload.status == 0, "\(reload.output)")
        let report = try Self.object(reload)
        #expect(report["added"] as? [String] == ["hello"], "\(reload.output)")
        let loaded = (report["plugins"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "hello" }
        #expect(loaded?["status"] as? String == "loaded", "\(reload.output)")
        #expect((loaded?["providers"] as? [[String: Any]])?.first?["id"] as? String == "hello/records", "\(reload.output)")
        let helloSource = try await server.nvisy(["connections", "create", "greetings", "--provider", "hello/records", "--config", #"{"count":5}"#])
        #expect(helloSource.status == 0, "\(helloSource.output)")

        // The console in headless Chromium: sign in, run "copy" with its button, see the run complete on
        // the page, no console error (a CSP violation would be one); the screenshot is for people.
        let screenshots = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Tests/Screenshots")
        try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
        let shot = screenshots.appendingPathComponent("console.png")
        try? FileManager.default.removeItem(at: shot)
        let browser = try await ChildProcess.run(FileManager.default.currentDirectoryPath + "/.venv/bin/python",
                                                 arguments: ["python/tests/console_browser.py", server.url + "/console", "ada@example.com",
                                                             "correct horse battery", "copy", shot.path],
                                                 timeout: .seconds(180), purpose: "console in chromium")
        #expect(browser.status == 0, "\(browser.output)")
        let seen = try JSONSerialization.jsonObject(with: Data((browser.output.split(separator: "\n").last ?? "").utf8)) as? [String: Any]
        #expect(seen?["status"] as? String == "completed", "\(browser.output)")
        #expect((seen?["totals"] as? [String])?.last?.contains("written 25") == true, "\(browser.output)")
        #expect((seen?["errors"] as? [String])?.isEmpty == true, "\(browser.output)")
        #expect(((try? FileManager.default.attributesOfItem(atPath: shot.path)[.size] as? Int) ?? 0) > 10_000, "no screenshot")

        let logout = try await server.nvisy(["logout"])
        #expect(logout.status == 0)
        #expect(!FileManager.default.fileExists(atPath: credentials.path))
    }
}

/// The console's files, as a browser would fetch them from a live server.
@Suite("End to end: the web console", .serialized)
struct ConsoleEndToEndTests {
    static func fetch(_ port: Int, _ path: String) async throws -> (Int, [AnyHashable: Any], String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, http.allHeaderFields, String(decoding: data, as: UTF8.self))
    }

    @Test("/console serves its page, script and style under a strict CSP, with no inline script or style")
    func consoleFiles() async throws {
        let server = try await ClientEndToEndTests.startServer()
        do {
            let (status, headers, page) = try await Self.fetch(server.port, "/console")
            #expect(status == 200)
            let csp = headers["Content-Security-Policy"] as? String ?? ""
            #expect(csp.contains("script-src 'self'") && csp.contains("style-src 'self'") && !csp.contains("unsafe-inline"), "\(csp)")
            #expect(csp.contains("frame-ancestors 'none'"))
            #expect(page.contains(#"<script src="/console/console.js""#))
            // Inline code would be refused by the CSP: the page has none.
            #expect(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style=") && !page.contains(" onclick="))
            let (jsStatus, jsHeaders, script) = try await Self.fetch(server.port, "/console/console.js")
            #expect(jsStatus == 200)
            #expect((jsHeaders["Content-Type"] as? String)?.hasPrefix("text/javascript") == true)
            #expect(script.contains("/api/v1/runs/") && script.contains("getReader"))
            let (cssStatus, cssHeaders, _) = try await Self.fetch(server.port, "/console/console.css")
            #expect(cssStatus == 200 && (cssHeaders["Content-Type"] as? String)?.hasPrefix("text/css") == true)
            let (missing, _, _) = try await Self.fetch(server.port, "/console/secrets.txt")
            #expect(missing == 404)
            // The API keeps its own, stricter policy.
            let (_, apiHeaders, _) = try await Self.fetch(server.port, "/health")
            #expect(apiHeaders["Content-Security-Policy"] as? String == "default-src 'none'; frame-ancestors 'none'")
        } catch {
            await ClientEndToEndTests.stop(server)
            throw error
        }
        await ClientEndToEndTests.stop(server)
    }
}
