// nvisy-bench-nats: object store put/get of one large object, nvisy (nats.c) beside nats-py,
// against a nats-server this benchmark starts itself. Run with scripts/bench-nats.sh.
//
//   nvisy-bench-nats [--mib 256] [--python .venv/bin/python] [--script python/tests/nats_objstore_interop.py]
import Foundation
import Logging
import NvisyNATS

func argument(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return fallback
}

/// Resident set size now and its peak (VmRSS, VmHWM) in bytes, from /proc/self/status.
func memory() -> (rss: Int, peak: Int) {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ key: String) -> Int {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "0") ?? 0) * 1024
    }
    return (field("VmRSS:"), field("VmHWM:"))
}

/// Resets VmHWM to the current RSS (Linux: write 5 to clear_refs).
func resetPeak() {
    if let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
        h.write("5".data(using: .utf8)!)
        try? h.close()
    }
}

func writeSource(path: String, bytes: Int) {
    FileManager.default.createFile(atPath: path, contents: nil)
    let h = FileHandle(forWritingAtPath: path)!
    var x: UInt64 = 0x2545F4914F6CDD1D
    var block = [UInt8](repeating: 0, count: 1 << 20)
    var left = bytes
    while left > 0 {
        block.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in 0..<words.count { x ^= x << 13; x ^= x >> 7; x ^= x << 17; words[i] = x }
        }
        let n = min(left, block.count)
        h.write(Data(block[0..<n]))
        left -= n
    }
    try? h.close()
}

func mbps(_ bytes: Int, _ seconds: Double) -> Double { Double(bytes) / 1_000_000 / seconds }

func seconds(_ d: Duration) -> Double {
    let (s, a) = d.components
    return Double(s) + Double(a) / 1e18
}

@main
struct NATSBench {
    static func main() async throws {
        let mib = Int(argument("--mib", "256")) ?? 256
        let python = argument("--python", ".venv/bin/python")
        let script = argument("--script", "python/tests/nats_objstore_interop.py")
        let size = mib * 1024 * 1024
        var logger = Logger(label: "nvisy.bench.nats")
        logger.logLevel = .warning

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("nvisy-bench-nats-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let server = EmbeddedNATSServer(storeDirectory: work.appendingPathComponent("store"), logger: logger)
        try await server.start()
        let url = await server.url
        let src = work.appendingPathComponent("source.bin").path
        let dst = work.appendingPathComponent("nvisy-out.bin").path
        writeSource(path: src, bytes: size)

        let conn = try await NATSConnection.connect(url: url, logger: logger)
        let store = try await conn.jetStream.ensureObjectStore(ObjectStoreConfig(bucket: "bench"))
        // Warm up the connection and the stream.
        try await store.put("warmup", bytes: [UInt8](repeating: 1, count: 1 << 20))
        _ = try await store.bytes("warmup")

        let clock = ContinuousClock()
        resetPeak()
        let before = memory()
        var t = clock.now
        let info = try await store.put("bench-nvisy", contentsOfFile: src)
        let putSeconds = seconds(clock.now - t)
        t = clock.now
        _ = try await store.get("bench-nvisy", toFile: dst)
        let getSeconds = seconds(clock.now - t)
        let after = memory()
        let growth = max(0, after.peak - before.rss)
        let outSize = (try? FileManager.default.attributesOfItem(atPath: dst)[.size] as? Int) ?? -1
        guard info.size == UInt64(size), outSize == size else {
            print("nats bench: size mismatch (put \(info.size), got \(outSize), want \(size))")
            exit(1)
        }
        unlink(dst)
        try await store.delete("bench-nvisy")

        // nats-py, same server, same file.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, "bench", url, "bench", src]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        unlink(src + ".py-out")
        guard p.terminationStatus == 0,
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let pyPut = json["put_seconds"] as? Double, let pyGet = json["get_seconds"] as? Double else {
            print("nats bench: the nats-py run failed (\(p.terminationStatus)): \(String(decoding: data, as: UTF8.self))")
            exit(1)
        }
        await conn.close()
        await server.stop()

        let putRatio = pyPut / putSeconds
        let getRatio = pyGet / getSeconds
        let growthMiB = Double(growth) / 1_048_576
        print("nats object store: \(mib) MiB object, 128 KiB chunks, nats-server on loopback")
        print(String(format: "nats object put: nvisy %.0f MB/s, nats-py %.0f MB/s, ratio %.2fx (target >= 0.7x)",
                     mbps(size, putSeconds), mbps(size, pyPut), putRatio))
        print(String(format: "nats object get: nvisy %.0f MB/s, nats-py %.0f MB/s, ratio %.2fx (target >= 0.7x)",
                     mbps(size, getSeconds), mbps(size, pyGet), getRatio))
        print(String(format: "nats object peak RSS growth: %.1f MiB (target < 64 MiB)", growthMiB))
        let met = putRatio >= 0.7 && getRatio >= 0.7 && growthMiB < 64
        print("nats object targets: \(met ? "met" : "MISSED")")
    }
}
