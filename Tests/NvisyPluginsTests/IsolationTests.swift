import Foundation
import NvisyCore
import Testing
@testable import NvisyPlugins

#if canImport(Glibc)
import Glibc
#endif

/// Process isolation (issue 11), with real child processes (`nvisy plugin-host`) and real
/// dlopen'd plugins: the trivial fixture, and the hazards fixture that segfaults, leaks and hangs.
@Suite("Isolation")
struct IsolationTests {
    static func manifest(_ name: String, _ library: String, extra: String = "") -> String {
        TestPlugins.manifest(name: name, library: library, extra: "isolation = \"process\"\n" + extra)
    }

    static let hazards = manifest("hazards", "libNvisyFixtureHazards.so", extra: "memory_limit_mb = 768")

    /// A host with the trivial plugin in process, the hazards plugin isolated (and `extra` manifests).
    static func host(_ extra: [String: String] = [:], options: ProviderCallOptions = .default) async throws -> PluginHost {
        var manifests = ["trivial.toml": TestPlugins.trivial, "hazards.toml": hazards]
        for (k, v) in extra { manifests[k] = v }
        let host = TestPlugins.host(try TestPlugins.pluginsDirectory(manifests), options: options)
        let report = await host.reload()
        #expect(report.failed.isEmpty, "\(report.plugins.compactMap(\.error))")
        return host
    }

    static func summary(_ host: PluginHost, _ name: String) async throws -> PluginSummary {
        try await host.plugin(named: name)
    }

    /// Moves every item from `source` to `sink` the way the runtime does: a transient error on
    /// a read reopens after the last token, on a write retries the batch.
    static func flow(_ source: any SourceInstance, _ sink: any SinkInstance, batch: Int = 64, maxAttempts: Int = 5) async throws -> Int {
        var token: Data? = nil
        var moved = 0
        var attempts = 0
        reading: while true {
            do {
                for try await items in source.read(after: token, batchSize: batch) {
                    var tries = 0
                    while true {
                        do {
                            try await sink.write(items)
                            break
                        } catch let e as NvisyError where e.retry == .transient && tries < maxAttempts {
                            tries += 1
                        }
                    }
                    moved += items.count
                    token = Data(items[items.count - 1].resumeToken)
                }
                break reading
            } catch let e as NvisyError where e.retry == .transient && attempts < maxAttempts {
                attempts += 1
            }
        }
        return moved
    }

    @Test("a bad isolation value fails that plugin with a clear reason; the others load")
    func badIsolationValue() async throws {
        let dir = try TestPlugins.pluginsDirectory([
            "trivial.toml": TestPlugins.trivial,
            "odd.toml": TestPlugins.manifest(name: "odd", library: "libNvisyTrivialPlugin.so", extra: "isolation = \"container\""),
            "small.toml": Self.manifest("small", "libNvisyTrivialPlugin.so", extra: "memory_limit_mb = 10"),
        ])
        let host = TestPlugins.host(dir)
        let report = await host.reload()
        let odd = try #require(report.plugins.first { $0.name == "odd" })
        #expect(odd.status == .failed)
        #expect(odd.error?.contains("`isolation` must be \"none\" or \"process\", not \"container\"") == true, "\(odd.error ?? "")")
        let small = try #require(report.plugins.first { $0.name == "small" })
        #expect(small.error?.contains("`memory_limit_mb` = 10 is too small") == true, "\(small.error ?? "")")
        #expect(try await host.plugin(named: "trivial").status == .loaded)
    }

    @Test("an isolated plugin serves every kind of call from its own process")
    func everyCall() async throws {
        // The smallest cap a manifest may set must be enough for the plugin host itself.
        let dir = try TestPlugins.pluginsDirectory(["trivial.toml": Self.manifest("trivial", "libNvisyTrivialPlugin.so", extra: "memory_limit_mb = 512")])
        let iso = TestPlugins.host(dir)
        let report = await iso.reload()
        let summary = try #require(report.plugins.first)
        #expect(summary.status == .loaded, "\(summary.error ?? "")")
        #expect(summary.isolation == .process)
        let pid = try #require(summary.childPid)
        #expect(pid != Int(getpid()) && pid > 0)
        #expect(summary.restarts == 0 && summary.lastCrash == nil)
        #expect(summary.providers.map(\.name) == ["chat", "counter", "discard", "echo", "slow"])

        // source → sink, with payloads big enough that batches go through shared memory.
        let n = 3000
        let source = try await iso.makeSource("trivial/counter", config: ["count": .number(Double(n)), "payloadSize": 200])
        let sink = try await iso.makeSink("trivial/discard", config: ["expectItems": .number(Double(n)), "expectBytes": .number(Double(n * 200))])
        #expect(try await Self.flow(source, sink) == n)
        try await sink.check()
        // A resume token resumes after that item.
        var resumed: [String] = []
        for try await b in source.read(after: Data("2996".utf8)) { resumed += b.map(\.resumeTokenString) }
        #expect(resumed == ["2997", "2998", "2999"])

        // transform, embed, complete (streamed tokens).
        let echo = try await iso.makeInstance("trivial/echo", config: ["times": 2], credentials: nil)
        let items = [ProviderItem(metadata: ["path": "a"], payload: Data("x".utf8), vector: [1, 2.5], resumeToken: Data("t".utf8))]
        let out = try await (echo as! any TransformInstance).transformAll(items)
        #expect(out == items + items)
        let vectors = try await (echo as! any EmbeddingInstance).embed(["abc", "", "héllo"])
        #expect(vectors == [[3, 1], [0, 1], [5, 1]])
        let chat = try await iso.makeInstance("trivial/chat", config: [:], credentials: nil) as! any CompletionInstance
        let tokens = TokenCollector()
        let answer = try await chat.complete(["messages": [["role": "user", "content": "one two three"]]]) { tokens.add($0) }
        #expect(answer["content"]?.stringValue == "one two three")
        #expect(tokens.all == ["one ", "two ", "three "])
        // A failing check comes back as the plugin's permanent error.
        let strict = try await iso.makeSink("trivial/discard", config: ["expectItems": 5])
        await #expect(throws: NvisyError.self) { try await strict.check() }
        do { try await strict.check() } catch let e as NvisyError {
            #expect(e.retry == .permanent && e.message.contains("discard received 0 items, expected 5"), "\(e)")
        }
        // Bad config is refused as in process.
        await #expect(throws: NvisyError.self) { _ = try await iso.makeSource("trivial/counter", config: ["count": "many"]) }
        #expect(try await iso.plugin(named: "trivial").restarts == 0)
    }

    @Test("a plugin that segfaults on its 1000th item: the flow completes via retries, the crash is counted")
    func segfaultIsContained() async throws {
        let host = try await Self.host()
        let n = 1500  // one crash: a new process counts from 0 and ends before its 1000th
        // The isolated source crashes once at its 1000th item; the flow reopens after the last token.
        let source = try await host.makeSource("hazards/crashsource", config: ["count": .number(Double(n))])
        let sink = try await host.makeSink("trivial/discard", config: ["expectItems": .number(Double(n))])
        #expect(try await Self.flow(source, sink, batch: 50) == n)
        try await sink.check()  // every item arrived exactly once
        var s = try await Self.summary(host, "hazards")
        #expect(s.restarts == 1)
        #expect(s.lastCrash?.contains("SIGSEGV") == true, "\(s.lastCrash ?? "")")

        // The isolated sink crashes on its 1000th item; the batch is retried in a new process.
        let counter = try await host.makeSource("trivial/counter", config: ["count": .number(Double(n))])
        let crash = try await host.makeSink("hazards/crash", config: ["crashAt": 1000])
        let before = s.childPid
        #expect(try await Self.flow(counter, crash) == n)
        s = try await Self.summary(host, "hazards")
        #expect(s.restarts == 2)
        #expect(s.childPid != nil && s.childPid != before)
    }

    @Test("a plugin that allocates without bound is killed by its memory cap; the error is transient, the host goes on")
    func memoryCap() async throws {
        let host = try await Self.host()
        let hog = try await host.makeSink("hazards/hog", config: [:])
        let start = ContinuousClock.now
        do {
            try await hog.write([ProviderItem()])
            Issue.record("the hog's write returned")
        } catch let e as NvisyError {
            #expect(e.retry == .transient)
            #expect(e.message.contains("hazards") && e.message.contains("process"), "\(e)")
        }
        #expect(ContinuousClock.now - start < .seconds(60))
        let s = try await Self.summary(host, "hazards")
        #expect(s.lastCrash?.contains("signal") == true, "\(s.lastCrash ?? "")")
        // The cap was really in place in the child.
        let probe = try await host.makeSource("hazards/probe", config: [:])
        let info = try #require(try await probe.openCursor(after: nil).next(maxItems: 1)?.first?.metadataValue())
        #expect(info["memoryLimit"]?.doubleValue == Double(768 << 20))
        #expect(try await Self.summary(host, "hazards").restarts == 1)
    }

    @Test("a plugin that sleeps forever is killed at its timeout; the host keeps answering")
    func hangIsKilled() async throws {
        let host = try await Self.host()
        // Only the sleeper has a short timeout (a loaded test machine may take a second to start a child).
        let sleeper = try await host.makeSink("hazards/sleeper", config: [:], options: ProviderCallOptions(timeout: .seconds(2)))
        let start = ContinuousClock.now
        // While the child hangs, the host (and an in-process provider) keeps working.
        async let hung: Void = sleeper.write([ProviderItem()])
        try await Task.sleep(for: .milliseconds(200))
        let source = try await host.makeSource("trivial/counter", config: ["count": 10])
        var n = 0
        for try await b in source.read() { n += b.count }
        #expect(n == 10)
        do {
            try await hung
            Issue.record("the sleeper's write returned")
        } catch let e as NvisyError {
            #expect(e.retry == .transient)
            #expect(e.message.contains("did not answer `write` within 2.0 seconds"), "\(e)")
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        let s = try await Self.summary(host, "hazards")
        #expect(s.lastCrash?.contains("did not answer") == true)
        #expect(s.childPid == nil)  // started again only when needed
        // The next call starts a new child.
        let probe = try await host.makeSource("hazards/probe", config: [:])
        _ = try await probe.openCursor(after: nil).next(maxItems: 1)
        #expect(try await Self.summary(host, "hazards").restarts == 1)
        #expect(try await Self.summary(host, "hazards").childPid != nil)
    }

    @Test("a plugin that spins is stopped by its CPU-time cap")
    func cpuCap() async throws {
        let host = try await Self.host(["hazards.toml": Self.manifest("hazards", "libNvisyFixtureHazards.so", extra: "cpu_limit_seconds = 1")])
        let spin = try await host.makeSink("hazards/spin", config: [:])
        let start = ContinuousClock.now
        await #expect(throws: NvisyError.self) { try await spin.write([ProviderItem()]) }
        #expect(ContinuousClock.now - start < .seconds(20))
        let s = try await Self.summary(host, "hazards")
        #expect(s.lastCrash?.contains("SIGXCPU") == true || s.lastCrash?.contains("signal 9") == true, "\(s.lastCrash ?? "")")
    }

    @Test("a plugin that crashes again and again is restarted with growing pauses")
    func restartBackoff() async throws {
        let host = try await Self.host()
        let crash = try await host.makeSink("hazards/crash", config: ["crashAt": 1])
        var pauses: [Duration] = []
        for _ in 0..<4 {
            let start = ContinuousClock.now
            await #expect(throws: NvisyError.self) { try await crash.write([ProviderItem()]) }
            pauses.append(ContinuousClock.now - start)
        }
        // 1st write: the running child crashes; then restarts wait 100, 200, 400 ms first.
        #expect(pauses[1] >= .milliseconds(100) && pauses[2] >= .milliseconds(200) && pauses[3] >= .milliseconds(400), "\(pauses)")
        #expect(try await Self.summary(host, "hazards").restarts == 3)
    }

    @Test("a reload keeps the running child of an unchanged isolated plugin")
    func reloadKeepsChild() async throws {
        let host = try await Self.host()
        let pid = try #require(try await Self.summary(host, "hazards").childPid)
        let sink = try await host.makeSink("hazards/crash", config: ["crashAt": 100])
        await host.reload()
        #expect(try await Self.summary(host, "hazards").childPid == pid)
        try await sink.write([ProviderItem()])  // the instance made before the reload still works
    }

    @Test("as root: a manifest only root can read still loads; a library the nvisy user cannot read fails with why",
          .enabled(if: getuid() == 0 && getpwnam("nvisy") != nil))
    func unprivilegedUserReach() async throws {
        let closed = try TestPlugins.tempDirectory("closed")
        chmod(closed.path, 0o700)
        try FileManager.default.copyItem(at: TestPlugins.library("NvisyFixtureHazards"), to: closed.appendingPathComponent("libHidden.so"))
        try Data(Self.manifest("hazards", TestPlugins.library("NvisyFixtureHazards").path).utf8).write(to: closed.appendingPathComponent("hazards.toml"))
        try Data(Self.manifest("hidden", closed.appendingPathComponent("libHidden.so").path).utf8).write(to: closed.appendingPathComponent("hidden.toml"))
        let host = TestPlugins.host(closed)
        let report = await host.reload()
        #expect(report.plugins.first { $0.manifestPath.hasSuffix("hazards.toml") }?.status == .loaded)
        let hidden = try #require(report.plugins.first { $0.manifestPath.hasSuffix("hidden.toml") })
        #expect(hidden.status == .failed)
        #expect(hidden.error?.contains("runs as user \"nvisy\": it must be able to read the library") == true, "\(hidden.error ?? "")")
    }

    @Test("least privilege: minimal environment, no inherited descriptors, the nvisy user, credentials per instance")
    func leastPrivilege() async throws {
        // A descriptor the host opens without close-on-exec must not reach the child.
        let marker = try TestPlugins.tempDirectory("marker").appendingPathComponent("secret.txt")
        try Data("secret".utf8).write(to: marker)
        let fd = open(marker.path, O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        setenv("NVISY_ISOLATION_TEST_SECRET", "do-not-leak", 1)
        defer { unsetenv("NVISY_ISOLATION_TEST_SECRET") }

        let host = try await Self.host()
        let probe = try await host.makeSource("hazards/probe", config: [:], credentials: ["token": "per-instance-token"])
        let info = try #require(try await probe.openCursor(after: nil).next(maxItems: 1)?.first?.metadataValue())
        let env = info["env"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(env == ["LANG", "PATH"], "\(env)")
        let fds = info["fds"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(!fds.contains { $0.contains("secret.txt") }, "\(fds)")
        #expect(fds.contains { $0.hasPrefix("3 -> socket:") }, "\(fds)")
        #expect(fds.contains { $0.hasPrefix("4 -> /memfd:nvisy-plugin") }, "\(fds)")
        #expect(info["token"]?.stringValue == "per-instance-token")
        #expect(info["pid"]?.doubleValue != Double(getpid()))
        if getuid() == 0, let nvisy = getpwnam("nvisy") {
            #expect(info["uid"]?.doubleValue == Double(nvisy.pointee.pw_uid))
            #expect(info["gid"]?.doubleValue == Double(nvisy.pointee.pw_gid))
        } else {
            #expect(info["uid"]?.doubleValue == Double(getuid()))
        }
    }
}

/// Collects streamed tokens from another thread.
final class TokenCollector: @unchecked Sendable {  // `tokens` is only touched under `lock`
    private let lock = NSLock()
    private var tokens: [String] = []
    func add(_ t: String) { lock.withLock { tokens.append(t) } }
    var all: [String] { lock.withLock { tokens } }
}
