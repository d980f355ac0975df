import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyRuntime

/// The benchmark's pipeline: filesystem/files (`*.csv` under `csvDir`) → formats/csv →
/// postgres/table (`table`, key `id`: a straight COPY, merging only on a key conflict), with the
/// shipped manifests of `repo` and the plugin libraries next to the executable.
struct BenchPipeline {
    let host: PluginHost
    let plan: ExecutionPlan

    static func make(repo: URL, work: URL, csvDir: URL, url: String, table: String, logger: Logger) async throws -> BenchPipeline {
        let plugins = work.appendingPathComponent("plugins.d-\(getpid())")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        for name in ["filesystem", "formats", "postgres"] {
            let to = plugins.appendingPathComponent("\(name).toml")
            if !FileManager.default.fileExists(atPath: to.path) {
                try FileManager.default.copyItem(at: repo.appendingPathComponent("plugins.d/\(name).toml"), to: to)
            }
        }
        let host = PluginHost(directory: plugins, librarySearchPath: [PluginLibraryResolver.executableDirectory!], logger: logger)
        await host.reload()
        let connections = StaticConnectionResolver([
            "files": ResolvedConnection(provider: "filesystem/files", config: ["root": .string(csvDir.path), "glob": "*.csv"]),
            "table": ResolvedConnection(provider: "postgres/table", config: ["url": .string(url), "table": .string(table), "key": "id"]),
        ])
        let definition = PipelineDefinition(
            nodes: [.source("in", connection: "files"), .transform("csv", "formats/csv"), .sink("out", connection: "table")],
            edges: [.init(from: "in", to: "csv"), .init(from: "csv", to: "out")])
        return BenchPipeline(host: host, plan: try await PipelineCompiler(host: host, connections: connections).compile(definition))
    }

    /// The options of every run in the benchmark: batches of NVISY_BENCH_BATCH items (default
    /// 2000) between nodes, gathered by the sink into writes — transactions — of
    /// NVISY_BENCH_SINK_BATCH items (default 50,000; at most 0.5 s of waiting).
    static var options: RunOptions {
        let env = ProcessInfo.processInfo.environment
        let batch = Int(env["NVISY_BENCH_BATCH"] ?? "") ?? 2000
        let sinkBatch = Int(env["NVISY_BENCH_SINK_BATCH"] ?? "") ?? 50_000
        return RunOptions(batchSize: batch, checkpointEveryItems: 1, sinkBatchSize: sinkBatch)
    }
}
