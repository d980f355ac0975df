/// Every migration of the nvisy schema, in order.
///
/// To add one: put `NNNN_what.sql` in this folder (it is embedded by `.embedInCode`) and add a
/// line here. A test fails if a `.sql` file is missing from this list.
public enum Migrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "extensions", bytes: PackageResources._001_extensions_sql),
        Migration(version: 2, name: "accounts", bytes: PackageResources._002_accounts_sql),
        Migration(version: 3, name: "workspaces", bytes: PackageResources._003_workspaces_sql),
        Migration(version: 4, name: "connections_files", bytes: PackageResources._004_connections_files_sql),
        Migration(version: 5, name: "webhooks", bytes: PackageResources._005_webhooks_sql),
        Migration(version: 6, name: "runs", bytes: PackageResources._006_runs_sql),
        Migration(version: 7, name: "pipelines", bytes: PackageResources._007_pipelines_sql),
        Migration(version: 8, name: "chunks", bytes: PackageResources._008_chunks_sql),
        Migration(version: 9, name: "webhook_key_ids", bytes: PackageResources._009_webhook_key_ids_sql),
        Migration(version: 10, name: "index_runs", bytes: PackageResources._010_index_runs_sql),
        Migration(version: 11, name: "chats", bytes: PackageResources._011_chats_sql),
        Migration(version: 12, name: "auth_notify", bytes: PackageResources._012_auth_notify_sql),
        Migration(version: 13, name: "workspace_notify", bytes: PackageResources._013_workspace_notify_sql),
        Migration(version: 14, name: "rate_limits", bytes: PackageResources._014_rate_limits_sql),
        Migration(version: 15, name: "chunk_graph", bytes: PackageResources._015_chunk_graph_sql),
        Migration(version: 16, name: "chunk_checks", bytes: PackageResources._016_chunk_checks_sql),
    ]
}
