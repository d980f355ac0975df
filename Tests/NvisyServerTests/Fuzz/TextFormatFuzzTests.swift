import Foundation
import NvisyCore
import NvisyPlugins
import NvisyTestSupport
import Testing

@testable import NvisyServer

/// Hostile TOML: plugin manifests and the server's config file (both through TOMLKit / toml++),
/// and hostile values for every setting from flags and the environment.
@Suite("Fuzz: manifests and configuration", .timeLimit(.minutes(20)))
struct TextFormatFuzzTests {
    static let tomlTokens = [
        "[defaults]\n", "[defaults.x]\n", "[[defaults]]\n", "a.b.c = 1\n", "name = \"n\"\nname = \"m\"\n", "x = [[[[1]]]]\n",
        "x = { a = { b = { c = 1 } } }\n", "'''", "\"\"\"", "1979-05-27T07:32:00Z", "inf", "nan", "+0x7FFFFFFFFFFFFFFF", "0b2",
        "= \"\\u0000\"\n", "\"\\U0010FFFF\"", "\"\\UFFFFFFFF\"", "[", "]", "{", "}", "= [", "=\n",
    ]

    static let manifests = FuzzMutator(samples: [
        "name = \"filesystem\"\nruntime = \"swift\"\nlibrary = \"libNvisyFilesystemPlugin.so\"\nenabled = true\n",
        "name = \"documents\"\nruntime = \"python\"\nmodule = \"nvisy_documents\"\nenabled = false\ndescription = \"d\"\nisolation = \"process\"\nmemory_limit_mb = 512\ncpu_limit_seconds = 30\n\n[defaults.partition]\nstrategy = \"fast\"\nlimits = [1, 2.5, \"x\", { a = true }]\n",
        "name = \"x\"\nruntime = \"swift\"\nlibrary = \"../../etc/passwd\"\nversion = \"1.0\"\n[defaults.p]\nwhen = 1979-05-27T07:32:00Z\n",
    ], tokens: tomlTokens)

    static let configs = FuzzMutator(samples: [
        "port = 8080\nhost = \"127.0.0.1\"\nlog_level = \"info\"\n",
        "database_url = \"postgres://u:p@localhost/db\"\nnats_url = \"nats://a:4222,nats://b:4222\"\nwebhook_retry_schedule = \"5s,30s,2m,10m,1h\"\nauth_cache_seconds = 60\n",
        "data_dir = \"/tmp/x\"\nrun_sink_batch_size = 0\n",
    ], tokens: tomlTokens + ["port = 99999999999999999999\n", "port = -1\n", "log_level = 3\n", "unknown_key = 1\n", "webhook_retry_schedule = \"0s,-1s,99999999999h\"\n"])

    static let directory: URL = {
        let dir = TestPostgres.temporaryDirectory("fuzz-toml")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    @Test("plugin manifests: a manifest or an invalid-input error naming the file")
    func manifests() async throws {
        let path = Self.directory.appendingPathComponent("fuzz-\(UUID().uuidString).toml")
        var parsed = 0
        await FuzzRun.cases("plugin manifest", 3_000) { rng, index in
            let input = Self.manifests.next(&rng)
            FuzzRun.remember("manifest", input)
            do {
                // Every tenth case goes through the file, so invalid UTF-8 reaches the reader as bytes.
                if index % 10 == 0 {
                    try Data(input).write(to: path)
                    _ = try PluginManifest.load(from: path)
                } else {
                    _ = try PluginManifest.parse(String(decoding: input, as: UTF8.self), path: path)
                }
                parsed += 1
            } catch let error as NvisyError {
                guard error.kind == .invalidInput, error.message.contains(path.path) else {
                    throw FuzzFailure("a manifest error that does not name the file: \(error)", input: input)
                }
            } catch {
                throw FuzzFailure("PluginManifest threw \(type(of: error)): \(error)", input: input)
            }
        }
        #expect(parsed > 0)
    }

    /// The inputs that aborted toml++ before `TOMLPrecheck` (its `parse_key` assertion), and valid
    /// TOML that looks like them but must still parse.
    @Test("table headers toml++ would abort on are refused with the line; nested arrays still parse")
    func tomlParserAborts() throws {
        let path = URL(fileURLWithPath: "/tmp/p.toml")
        #expect(throws: NvisyError.self) { try PluginManifest.parse("a = 1\n  [[ \"\n", path: path) }
        for bad in ["[[[1]]]", "[[=", "[[[a]]", "[[[]]", "name = \"x\"\n[ ]\n", "[[\t#", "[defaults.p]\nwhen = 1979-05-27T[", "x = [1979-05-27t]", "limits = [1, }}", "x = [\n}\n]", "x = [{a = 1}, [}]]"] {
            #expect(throws: NvisyError.self, "\(bad.debugDescription)") { try PluginManifest.parse(bad, path: path) }
            #expect(TOMLPrecheck.problem(in: bad) != nil, "\(bad.debugDescription)")
        }
        let nested = "name = \"n\"\nruntime = \"python\"\nmodule = \"m\"\n[defaults.p]\nx = [\n[[1], [2]],\n  [\"[[=\"]\n]\ns = '''\n[[[\n'''\n[ \"defaults\" . q ]\ny = 1 # [[[\nwhen = 1979-05-27T07:32:00Z\n1979-05-27T = 2\n"
        let manifest = try PluginManifest.parse(nested, path: path)
        #expect(manifest.defaults["p"] != nil && manifest.defaults["q"] != nil, "\(manifest.defaults)")
    }

    @Test("config files: a configuration or an invalid-input error with a pointer")
    func configFiles() async throws {
        let path = Self.directory.appendingPathComponent("nvisy-\(UUID().uuidString).toml")
        var loaded = 0
        await FuzzRun.cases("config file", 2_000) { rng, _ in
            let input = Self.configs.next(&rng)
            FuzzRun.remember("config", input)
            try Data(input).write(to: path)
            do {
                _ = try ConfigurationLoader(flags: [:], environment: [:], configFile: path.path, workingDirectory: Self.directory).load()
                loaded += 1
            } catch let error as NvisyError {
                guard error.kind == .invalidInput, !error.fieldErrors.isEmpty, !error.message.isEmpty else {
                    throw FuzzFailure("a config error without a pointer: \(error)", input: input)
                }
            }
        }
        #expect(loaded > 0)
    }

    @Test("every setting from flags and the environment: hostile values are refused by name, secrets never echoed")
    func settingValues() async throws {
        let keys = ServerConfiguration.keys
        let values = FuzzMutator(samples: ["8080", "true", "info", "5s,30s", "postgres://u:p@h/db", "0", ""],
                                 tokens: ["-", "h", "ms", ",", "99999999999999999999"])
        await FuzzRun.cases("setting values", 3_000) { rng, _ in
            let key = rng.pick(keys)
            let value = String(decoding: values.next(&rng), as: UTF8.self)
            let fromEnvironment = rng.chance(0.5)
            let loader = fromEnvironment
                ? ConfigurationLoader(flags: [:], environment: [key.environmentName: value], workingDirectory: Self.directory)
                : ConfigurationLoader(flags: [key.name: value], environment: [:], workingDirectory: Self.directory)
            do {
                _ = try loader.load()
            } catch let error as NvisyError {
                guard error.kind == .invalidInput, error.fieldErrors.first?.pointer.hasSuffix(key.name) == true
                        || error.fieldErrors.first?.pointer.hasSuffix(key.environmentName) == true else {
                    throw FuzzFailure("\(key.name): error without the key's pointer: \(error)", input: Array(value.utf8))
                }
                if key.isSecret, value.count >= 4, error.message.contains(value) {
                    throw FuzzFailure("\(key.name): the error echoes a secret value", input: Array(value.utf8))
                }
            }
        }
    }
}
