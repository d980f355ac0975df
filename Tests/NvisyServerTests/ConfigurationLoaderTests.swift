import Foundation
import NvisyCore
import Testing

@testable import NvisyServer

@Suite("Configuration layers")
struct ConfigurationLoaderTests {
    let dir: URL = {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("nvisy-config-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    private func write(_ toml: String) throws -> String {
        let path = dir.appendingPathComponent("nvisy.toml").path
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("defaults apply when nothing is set")
    func defaults() throws {
        let config = try ConfigurationLoader(flags: [:], environment: [:], workingDirectory: dir).load()
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.dataDirectory.path == dir.appendingPathComponent(".nvisy").path)
        #expect(config.databaseURL == nil)
        #expect(config.logLevel == .info)
    }

    @Test("flags beat environment, environment beats the file, the file beats defaults")
    func layering() throws {
        let path = try write("""
            port = 9000
            host = "0.0.0.0"
            log_level = "debug"
            data_dir = "/srv/nvisy"
            """)
        let env = ["NVISY_PORT": "9100", "NVISY_LOG_LEVEL": "warning"]
        let config = try ConfigurationLoader(flags: ["port": "9200"], environment: env, configFile: path, workingDirectory: dir).load()
        #expect(config.port == 9200)  // flag
        #expect(config.logLevel == .warning)  // env over file
        #expect(config.host == "0.0.0.0")  // file over default
        #expect(config.dataDirectory.path == "/srv/nvisy")
        #expect(config.pluginsDirectory.path == dir.appendingPathComponent("plugins.d").path)  // default
    }

    @Test("./nvisy.toml is read without --config, and NVISY_CONFIG names another file")
    func implicitFile() throws {
        _ = try write("port = 7000\n")
        #expect(try ConfigurationLoader(flags: [:], environment: [:], workingDirectory: dir).load().port == 7000)
        let other = dir.appendingPathComponent("other.toml").path
        try "port = 7001\n".write(toFile: other, atomically: true, encoding: .utf8)
        #expect(try ConfigurationLoader(flags: [:], environment: ["NVISY_CONFIG": other], workingDirectory: dir).load().port == 7001)
    }

    @Test("an unknown key in the file is an error naming it")
    func unknownFileKey() throws {
        let path = try write("prot = 9000\n")
        let error = #expect(throws: NvisyError.self) {
            try ConfigurationLoader(flags: [:], environment: [:], configFile: path, workingDirectory: dir).load()
        }
        #expect(error?.message.contains("unknown key 'prot'") == true)
        #expect(error?.fieldErrors.first?.pointer == "/prot")
    }

    @Test("a value of the wrong type names the key, the layer and the expected type", arguments: [
        ("port = \"eighty\"\n", [String: String](), [String: String](), "key 'port'"),
        ("port = 70000\n", [:], [:], "from 1 to 65535"),
        ("log_level = \"loud\"\n", [:], [:], "one of trace"),
        ("", ["NVISY_PORT": "x"], [:], "NVISY_PORT"),
        ("", [:], ["port": "0"], "--port"),
        ("webhook_retry_schedule = \"5s,soon\"\n", [:], [:], "list of durations"),
        ("", ["NVISY_WEBHOOK_RETRY_SCHEDULE": "0s"], [:], "NVISY_WEBHOOK_RETRY_SCHEDULE"),
        ("", ["NVISY_WORKER_CONCURRENCY": "-1"], [:], "from 0 to 64"),
    ])
    func wrongTypes(toml: String, env: [String: String], flags: [String: String], mentions: String) throws {
        let path = try write(toml)
        let error = #expect(throws: NvisyError.self) {
            try ConfigurationLoader(flags: flags, environment: env, configFile: path, workingDirectory: dir).load()
        }
        #expect(error?.message.contains(mentions) == true, "\(error?.message ?? "") should mention \(mentions)")
    }

    @Test("a misspelt NVISY_ variable is refused; unrelated NVISY_ variables are not settings")
    func environmentNames() throws {
        let error = #expect(throws: NvisyError.self) {
            try ConfigurationLoader(flags: [:], environment: ["NVISY_DATABSE_URL": "x"], workingDirectory: dir).load()
        }
        #expect(error?.message.contains("NVISY_DATABSE_URL") == true)
        _ = try ConfigurationLoader(flags: [:], environment: ["NVISY_MASTER_KEY": "k", "NVISY_TOKEN": "t"], workingDirectory: dir).load()
    }

    @Test("malformed TOML and a missing --config file are clear errors")
    func malformedFile() throws {
        let path = try write("port = = 3\n")
        let error = #expect(throws: NvisyError.self) {
            try ConfigurationLoader(flags: [:], environment: [:], configFile: path, workingDirectory: dir).load()
        }
        #expect(error?.message.contains("not valid TOML") == true)
        let missing = #expect(throws: NvisyError.self) {
            try ConfigurationLoader(flags: [:], environment: [:], configFile: "/nonexistent/nvisy.toml", workingDirectory: dir).load()
        }
        #expect(missing?.message.contains("does not exist") == true)
    }

    @Test("a secret setting's value is never echoed in an error")
    func secretsNotEchoed() throws {
        let path = try write("database_url = 987654321\n")
        let error = #expect(throws: NvisyError.self) {
            try ConfigurationLoader(flags: [:], environment: [:], configFile: path, workingDirectory: dir).load()
        }
        #expect(error?.message.contains("987654321") == false)
    }

    @Test("run and webhook settings reach the worker and the webhook service")
    func runAndWebhookSettings() throws {
        let path = try write("webhook_retry_schedule = \"1s, 2m,3h\"\nrun_lease_seconds = 4\nworker_concurrency = 3\nrun_batch_size = 50\n")
        let config = try ConfigurationLoader(flags: ["webhook_timeout_seconds": "7"], environment: ["NVISY_RUN_ERROR_BUDGET": "9"],
                                             configFile: path, workingDirectory: dir).load()
        #expect(config.webhookSettings.retrySchedule == [.seconds(1), .seconds(120), .seconds(3 * 3600)])
        #expect(config.webhookSettings.timeout == .seconds(7))
        #expect(config.webhookSettings.rotationGracePeriod == .seconds(24 * 3600))
        let worker = config.runWorkerSettings
        #expect(worker.lease == .seconds(4))
        #expect(worker.ackWait == .seconds(8))
        #expect(worker.concurrency == 3)
        #expect(worker.runOptions.batchSize == 50)
        #expect(worker.runOptions.errorBudget == 9)
        #expect(worker.runOptions.sinkBatchSize == nil, "0 by default: each batch is its own write")
        let gathered = try ConfigurationLoader(flags: ["run_sink_batch_size": "20000", "nats_replicas": "3", "auth_cache_seconds": "0"], environment: [:],
                                               configFile: path, workingDirectory: dir).load()
        #expect(gathered.runWorkerSettings.runOptions.sinkBatchSize == 20000)
        #expect(gathered.natsReplicas == 3)
        #expect(gathered.apiSettings.authCacheTTL == .zero)
    }

    @Test("the README's configuration table lists every key with its environment variable and flag")
    func readmeListsEveryKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for key in ServerConfiguration.keys {
            #expect(readme.contains("| `\(key.name)` | `\(key.environmentName)` | `\(key.flagName)` |"), "README.md misses \(key.name)")
        }
    }
}
