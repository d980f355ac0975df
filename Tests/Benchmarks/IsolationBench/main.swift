// The isolation crossing benchmark (issue 11): items/s through source → sink with the trivial
// providers (Plugins/Fixtures/Trivial) loaded in process (`isolation = "none"`, dlopen) versus
// in a plugin-host child (`isolation = "process"`: socket pair + shared memory), same loop,
// same run, sides interleaved. Prints one ratio line per batch size; target ≥ 0.5× at batch 64.
//
// This binary is also its own plugin host: started as `nvisy-bench-isolation plugin-host …` it
// runs PluginChildServer, the code behind `nvisy plugin-host`, so the benchmark needs no release
// build of the whole server. Run with scripts/bench-isolation.sh (release build).
import Foundation
import Logging
import NvisyCore
import NvisyPlugins

let logger: Logger = {
    var l = Logger(label: "nvisy.bench.isolation")
    l.logLevel = .error
    return l
}()

let args = CommandLine.arguments
if args.count > 1, args[1] == "plugin-host" {
    func value(_ flag: String) -> String? { args.firstIndex(of: flag).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } }
    let options = PluginChildServer.Options(
        manifest: URL(fileURLWithPath: value("--manifest") ?? ""), library: value("--library"), venv: value("--venv").map { URL(fileURLWithPath: $0) },
        memoryLimitMB: Int(value("--memory-limit-mb") ?? "") ?? 0, cpuLimitSeconds: Int(value("--cpu-limit-seconds") ?? "") ?? 0,
        user: value("--user"))
    await PluginChildServer.run(options, logger: logger)
}

func pump(_ source: any SourceInstance, _ sink: any SinkInstance, batch: Int) async throws -> Int {
    var n = 0
    for try await items in source.read(batchSize: batch) {
        try await sink.write(items)
        n += items.count
    }
    try await sink.check()  // the sink proves it received every item and byte
    return n
}

func rate(_ r: Double) -> String { r >= 1e6 ? String(format: "%.2fM", r / 1e6) : String(format: "%.0fk", r / 1e3) }

func host(isolation: String) async throws -> PluginHost {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-bench-isolation-\(getpid())-\(isolation)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try Data("""
        name = "trivial"
        runtime = "swift"
        library = "libNvisyTrivialPlugin.so"
        isolation = "\(isolation)"
        """.utf8).write(to: dir.appendingPathComponent("trivial.toml"))
    let libraries = PluginLibraryResolver.executableDirectory ?? URL(fileURLWithPath: ".")
    let h = PluginHost(directory: dir, librarySearchPath: [libraries], logger: logger)
    await h.setIsolationSettings(IsolationSettings(executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()))
    let report = await h.reload()
    guard report.failed.isEmpty else {
        print("bench-isolation: the trivial plugin did not load (\(isolation)): \(report.plugins.compactMap(\.error))")
        exit(1)
    }
    return h
}

let inProcess = try await host(isolation: "none")
let isolated = try await host(isolation: "process")
print("isolation crossing: items/s source → sink (trivial providers, 16-byte payloads), in process vs plugin-host child, interleaved, best of 5")
var failed = false
for (batch, items) in [(1, 20_000), (64, 400_000), (1024, 1_000_000)] {
    // Sides: in process on the default dedicated thread, in process on the caller's thread, isolated.
    let sides: [(PluginHost, ProviderCallOptions)] = [
        (inProcess, ProviderCallOptions(timeout: .seconds(60), isolation: .dedicatedThread)),
        (inProcess, ProviderCallOptions(timeout: .seconds(60), isolation: .callerThread)),
        (isolated, ProviderCallOptions(timeout: .seconds(60))),
    ]
    var best = [Double](repeating: 0, count: sides.count)
    for _ in 0..<5 {
        for (k, (h, options)) in sides.enumerated() {
            let source = try await h.makeSource("trivial/counter", config: ["count": .number(Double(items))], options: options)
            let sink = try await h.makeSink("trivial/discard", config: ["expectItems": .number(Double(items)), "expectBytes": .number(Double(items * 16))],
                                            options: options)
            let start = ContinuousClock.now
            let n = try await pump(source, sink, batch: batch)
            let elapsed = ContinuousClock.now - start
            precondition(n == items, "moved \(n) items, expected \(items)")
            await source.close()
            await sink.close()
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            best[k] = max(best[k], Double(n) / seconds)
        }
    }
    let ratio = best[2] / best[0]
    print(String(format: "batch %4d: in process %@/s (dedicated thread, the default) %@/s (caller thread), isolated %@/s; ratio %.2fx%@ (vs caller thread %.2fx)",
                 batch, rate(best[0]), rate(best[1]), rate(best[2]), ratio, batch == 64 ? " (target >= 0.5x)" : "", best[2] / best[1]))
    if batch == 64, ratio < 0.5 { failed = true }
}
print(failed ? "bench-isolation: ratio at batch 64 is below the 0.5 target" : "bench-isolation: ratio at batch 64 meets the 0.5 target")
