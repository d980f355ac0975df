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
    @Option(name: .customLong("jwt-key-file"), help: "Ed25519 key that signs sessions; unset = <data-dir>/session-ed25519.key") var jwtKeyFile: String?
    @Option(name: .customLong("session-hours"), help: "Session token lifetime in hours (default 24)") var sessionHours: String?
    @Option(name: .customLong("cors-origins"), help: "Comma-separated browser origins allowed (CORS); unset = none") var corsOrigins: String?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body in bytes (default 1048576)") var maxBodyBytes: String?
    @Option(name: .customLong("request-timeout-seconds"), help: "Cancel requests running longer (default 30)") var requestTimeoutSeconds: String?
    @Option(name: .customLong("auth-attempts-per-ip"), help: "Login/signup attempts per IP per minute (default 20)") var authAttemptsPerIP: String?
    @Option(name: .customLong("auth-attempts-per-account"), help: "Login attempts per email per minute (default 5)") var authAttemptsPerAccount: String?
    @Option(name: .customLong("webhook-allow-private"), help: "true: webhooks may reach private/loopback addresses; unset = only in embedded dev mode") var webhookAllowPrivate: String?
    @Option(name: .customLong("webhook-auto-pause-hours"), help: "Pause a webhook failing this many hours (default 72)") var webhookAutoPauseHours: String?
    @Option(name: .customLong("max-file-bytes"), help: "Largest uploaded file in bytes (default 1073741824)") var maxFileBytes: String?
    @Option(name: .customLong("workspace-quota-bytes"), help: "Most bytes of files per workspace; 0 = no limit (default 0)") var workspaceQuotaBytes: String?
    @Option(name: .customLong("connection-check-timeout-seconds"), help: "Connection check timeout (default 15)") var connectionCheckTimeoutSeconds: String?
    @Option(name: .customLong("run-sink-batch-size"), help: "Items a sink gathers into one write; 0 = each batch (default 0)") var runSinkBatchSize: String?
    @Option(name: .customLong("nats-replicas"), help: "Replicas of nvisy's JetStream streams and buckets (default 1; 3 on a cluster)") var natsReplicas: String?
    @Option(name: .customLong("auth-cache-seconds"), help: "How long sessions and roles are cached in memory; 0 = off (default 60)") var authCacheSeconds: String?
    @Option(name: .customLong("hnsw-ef-search"), help: "pgvector hnsw.ef_search for knowledge-base search (default 100)") var hnswEfSearch: String?
    @Option(name: .customLong("worker-concurrency"), help: "Pipeline runs executed at once; 0 = API only (default 2)") var workerConcurrency: String?
    @Option(name: .customLong("run-batch-size"), help: "Items per batch in runs (default 500)") var runBatchSize: String?
    @Option(name: .customLong("run-error-budget"), help: "Failed items a run tolerates (default 100)") var runErrorBudget: String?
    @Option(name: .customLong("run-max-attempts"), help: "Attempts of a run that fails transiently (default 3)") var runMaxAttempts: String?
    @Option(name: .customLong("run-lease-seconds"), help: "A dead worker's runs move on after this (default 15)") var runLeaseSeconds: String?
    @Option(name: .customLong("webhook-retry-schedule"), help: "Webhook retry delays (default 5s,30s,2m,10m,1h,6h,12h)") var webhookRetrySchedule: String?
    @Option(name: .customLong("webhook-timeout-seconds"), help: "Webhook delivery timeout (default 10)") var webhookTimeoutSeconds: String?
    @Option(name: .customLong("webhook-rotation-grace-hours"), help: "Old webhook secret signs this long after rotation (default 24)") var webhookRotationGraceHours: String?

    /// The flags that were given, keyed by configuration key name.
    var flagValues: [String: String] {
        let pairs: [(String, String?)] = [
            ("host", host), ("port", port), ("data_dir", dataDir), ("database_url", databaseURL),
            ("postgres_bin_dir", postgresBinDir), ("nats_url", natsURL), ("plugins_dir", pluginsDir), ("venv", venv),
            ("master_key_file", masterKeyFile), ("log_level", logLevel),
            ("jwt_key_file", jwtKeyFile), ("session_hours", sessionHours), ("cors_origins", corsOrigins),
            ("max_body_bytes", maxBodyBytes), ("request_timeout_seconds", requestTimeoutSeconds),
            ("auth_attempts_per_ip", authAttemptsPerIP), ("auth_attempts_per_account", authAttemptsPerAccount),
            ("webhook_allow_private", webhookAllowPrivate), ("webhook_auto_pause_hours", webhookAutoPauseHours),
            ("max_file_bytes", maxFileBytes), ("workspace_quota_bytes", workspaceQuotaBytes),
            ("connection_check_timeout_seconds", connectionCheckTimeoutSeconds),
            ("auth_cache_seconds", authCacheSeconds),
            ("nats_replicas", natsReplicas),
            ("run_sink_batch_size", runSinkBatchSize),
            ("hnsw_ef_search", hnswEfSearch),
            ("worker_concurrency", workerConcurrency), ("run_batch_size", runBatchSize), ("run_error_budget", runErrorBudget),
            ("run_max_attempts", runMaxAttempts), ("run_lease_seconds", runLeaseSeconds),
            ("webhook_retry_schedule", webhookRetrySchedule), ("webhook_timeout_seconds", webhookTimeoutSeconds),
            ("webhook_rotation_grace_hours", webhookRotationGraceHours),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { key, value in value.map { (key, $0) } })
    }

    /// The resolved configuration: flags > environment > config file > defaults.
    func load() throws(NvisyError) -> ServerConfiguration {
        try ConfigurationLoader(flags: flagValues, configFile: config).load()
    }
}
