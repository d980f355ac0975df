import ArgumentParser
import Foundation
import NvisyCore
import NvisyServer

/// The flags that mirror the configuration keys (see ``ServerConfiguration/keys``).
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: ./nvisy.toml if present, or $NVISY_CONFIG)")
    var config: String?
    @Option(name: .long, help: "Address to listen on (default 127.0.0.1)") var host: String?
    @Option(name: .long, help: "Port to listen on (default 8080)") var port: String?
    @Option(name: .customLong("data-dir"), help: "Local state folder (default ./.nvisy)") var dataDir: String?
    @Option(name: .customLong("database-url"), help: "External PostgreSQL URL; unset = embedded") var databaseURL: String?
    @Option(name: .customLong("postgres-bin-dir"), help: "Folder with initdb/pg_ctl/postgres") var postgresBinDir: String?
    @Option(name: .customLong("nats-url"), help: "External NATS URL; unset = embedded nats-server") var natsURL: String?
    @Option(name: .customLong("plugins-dir"), help: "Folder of plugin manifests (default ./plugins.d)") var pluginsDir: String?
    @Option(name: .long, help: "Python venv (default ./.venv)") var venv: String?
    @Option(name: .customLong("master-key-file"), help: "Master key file (base64)") var masterKeyFile: String?
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical") var logLevel: String?

    /// The flags that were given, keyed by configuration key name.
    var flagValues: [String: String] {
        let pairs: [(String, String?)] = [
            ("host", host), ("port", port), ("data_dir", dataDir), ("database_url", databaseURL),
            ("postgres_bin_dir", postgresBinDir), ("nats_url", natsURL), ("plugins_dir", pluginsDir), ("venv", venv),
            ("master_key_file", masterKeyFile), ("log_level", logLevel),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { key, value in value.map { (key, $0) } })
    }

    /// The resolved configuration: flags > environment > config file > defaults.
    func load() throws(NvisyError) -> ServerConfiguration {
        try ConfigurationLoader(flags: flagValues, configFile: config).load()
    }
}
