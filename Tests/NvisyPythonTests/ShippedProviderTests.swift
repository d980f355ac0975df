import Foundation
import NvisyCore
import NvisyPlugins
import Testing

/// The shipped manifests (plugins.d/s3.toml, documents.toml) with real moto and the Swift filesystem plugin.
@Suite("S3 and documents providers through the host", .serialized)
struct ShippedProviderTests {
    /// A real `moto_server` on a free loopback port, stopped at the end of `body`.
    static func withMoto(_ body: (String) async throws -> Void) async throws {
        let port = try FreePort.loopback()
        let moto = PyTest.venv.appendingPathComponent("bin/moto_server").path
        var env = ProcessInfo.processInfo.environment
        env["AWS_ACCESS_KEY_ID"] = "testing"
        env["AWS_SECRET_ACCESS_KEY"] = "testing"
        let pid = try ChildProcess.spawn(moto, arguments: ["-H", "127.0.0.1", "-p", "\(port)"], environment: env,
                                         purpose: "moto S3 server")
        defer {
            kill(pid, SIGTERM)
            Task.detached { _ = await ChildProcess.wait(pid, timeout: .seconds(10)) }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while !FreePort.isListening(port) {
            guard ContinuousClock.now < deadline, ChildProcess.isRunning(pid) else {
                throw NvisyError.unavailable("moto_server did not start on port \(port)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await body("http://127.0.0.1:\(port)")
    }

    static func createBucket(_ name: String, endpoint: String) async throws {
        let script = "import boto3; boto3.client('s3', endpoint_url='\(endpoint)', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').create_bucket(Bucket='\(name)')"
        let r = try await ChildProcess.run(PyTest.python, arguments: ["-c", script], purpose: "create a test bucket")
        #expect(r.status == 0, "\(r.output)")
    }

    static let credentials: JSONValue = ["access_key_id": "testing", "secret_access_key": "testing"]

    static func pipe(_ source: any SourceInstance, after: Data? = nil, through transform: (any TransformInstance)? = nil,
                     into sink: any SinkInstance) async throws -> Int {
        var n = 0
        for try await batch in source.read(after: after, batchSize: 16) {
            let out = try await transform?.transformAll(batch) ?? batch
            try await sink.write(out)
            n += out.count
        }
        return n
    }

    @Test("files → s3/bucket (moto) → files, byte for byte, resumable; s3 → documents/partition")
    func roundTrip() async throws {
        let host = await PyTest.shippedHost()
        for name in ["s3", "documents", "filesystem"] {
            let p = try await host.plugin(named: name)
            #expect(p.status == .loaded, "\(name): \(p.error ?? "")")
        }
        try await Self.withMoto { endpoint in
            try await Self.createBucket("nvisy-test", endpoint: endpoint)
            let input = try PyTest.tempDirectory("in"), output = try PyTest.tempDirectory("out")
            try FileManager.default.createDirectory(at: input.appendingPathComponent("sub"), withIntermediateDirectories: true)
            let big = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let files: [String: Data] = [
                "a.txt": Data("alpha\n".utf8),
                "sub/b.bin": big,
                "notes.md": Data("# Notes\n\nSome text.\n\n## Part two\n\nMore.\n".utf8),
            ]
            for (path, data) in files { try data.write(to: input.appendingPathComponent(path)) }

            let s3Config: JSONValue = ["bucket": "nvisy-test", "prefix": "round/", "endpoint_url": .string(endpoint)]
            let localSource = try await host.makeSource("filesystem/files", config: ["root": .string(input.path)])
            let s3Sink = try await host.makeSink("s3/bucket", config: s3Config, credentials: Self.credentials)
            try await s3Sink.check()
            #expect(try await Self.pipe(localSource, into: s3Sink) == 3)

            let s3Source = try await host.makeSource("s3/bucket", config: s3Config, credentials: Self.credentials)
            let localSink = try await host.makeSink("filesystem/files", config: ["root": .string(output.path)])
            #expect(try await Self.pipe(s3Source, into: localSink) == 3)
            for (path, data) in files {
                #expect(try Data(contentsOf: output.appendingPathComponent(path)) == data, "\(path)")
            }
            var resumed: [String] = []
            for try await item in s3Source.read(after: Data("a.txt".utf8)).items { resumed.append(item.resumeTokenString) }
            #expect(resumed == ["notes.md", "sub/b.bin"])

            let partition = try await host.makeTransform("documents/partition", config: [:])
            var docs: [String: ProviderItem] = [:]
            for try await batch in s3Source.read(batchSize: 8) {
                for d in try await partition.transformAll(batch) { docs[d.json["path"]?.stringValue ?? ""] = d }
            }
            let notes = try #require(docs["notes.md"])
            #expect(String(decoding: notes.payload, as: UTF8.self) == "Notes\n\nSome text.\n\nPart two\n\nMore.")
            #expect(notes.json["sections"]?.arrayValue?.compactMap { $0["title"]?.stringValue } == ["Notes", "Part two"])
            #expect(notes.json["source"]?["bucket"] == "nvisy-test")
            // sub/b.bin is no document: a per-item error that names the file, not a failed run.
            let bin = try #require(docs["sub/b.bin"])
            #expect(bin.json["error"]?["message"]?.stringValue?.hasPrefix("sub/b.bin: unsupported type") == true)
            #expect(docs.count == 3)

            // A missing bucket: a permanent error naming it.
            let missing = try await host.makeSource("s3/bucket", config: ["bucket": "no-such-bucket", "endpoint_url": .string(endpoint)],
                                                    credentials: Self.credentials)
            do {
                try await missing.check()
                Issue.record("expected an error")
            } catch let e as NvisyError {
                #expect(e.retry == .permanent)
                #expect(e.message.contains("no-such-bucket"), "\(e.message)")
            }
        }
    }

    @Test("documents/partition on PDF, DOCX and HTML through the host keeps pages and sections")
    func documents() async throws {
        let host = await PyTest.shippedHost()
        let dir = try PyTest.tempDirectory("docs")
        let r = try await ChildProcess.run(PyTest.python, arguments: [PyTest.fixtures.appendingPathComponent("make_documents.py").path, dir.path],
                                           purpose: "write sample documents")
        #expect(r.status == 0, "\(r.output)")
        let source = try await host.makeSource("filesystem/files", config: ["root": .string(dir.path)])
        let partition = try await host.makeTransform("documents/partition", config: [:])
        var docs: [String: ProviderItem] = [:]
        for try await batch in source.read() {
            for d in try await partition.transformAll(batch) { docs[d.json["path"]?.stringValue ?? ""] = d }
        }
        #expect(docs.count == 6)
        let pdf = try #require(docs["report.pdf"])
        #expect(pdf.json["pageCount"] == 2)
        #expect(String(decoding: pdf.payload, as: UTF8.self) == "Page one text\n\nPage two text")
        #expect(docs["memo.docx"]?.json["sections"]?.arrayValue?.count == 2)
        #expect(docs["page.html"]?.json["title"] == "Sample Page")
        #expect(docs["data.xyz"]?.json["error"]?["message"]?.stringValue?.contains("data.xyz") == true)
    }
}
