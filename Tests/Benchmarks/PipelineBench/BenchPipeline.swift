import Foundation
import Logging
import NvisyCore
import NvisyPlugins
import NvisyRuntime

/// The benchmark's pipeline: filesystem/files (`*.csv` under `csvDir`) → formats/csv →
/// postgres/table (`table`, upsert on `id`), with the shipped manifests of `repo` and the
/// plugin libraries next to the executable.
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

    /// The options of every run in the benchmark (batch from NVISY_BENCH_BATCH, default 2000).
    static var options: RunOptions {
        let batch = Int(ProcessInfo.processInfo.environment["NVISY_BENCH_BATCH"] ?? "") ?? 2000
        return RunOptions(batchSize: batch, checkpointEveryItems: 1)
    }
}
