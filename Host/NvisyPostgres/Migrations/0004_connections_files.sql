-- 0004: connections (provider + config + sealed credentials), files (metadata of objects in
-- the NATS object store, with versions) and the events outbox (file.uploaded, ...).
CREATE TABLE connections (
    id                 uuid PRIMARY KEY,
    workspace_id       uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name               text NOT NULL,
    provider           text NOT NULL,                 -- plugin/provider
    config             jsonb NOT NULL DEFAULT '{}',
    credentials        bytea,                         -- CredentialCipher.seal(JSON), AAD = id; null = none
    credential_fields  text[] NOT NULL DEFAULT '{}',  -- top-level names that are set (never values)
    key_id             text,                          -- which master key sealed `credentials`
    created_by         uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);
CREATE INDEX connections_workspace ON connections (workspace_id, id);
CREATE INDEX connections_key ON connections (key_id) WHERE credentials IS NOT NULL;

CREATE TABLE files (
    id             uuid PRIMARY KEY,
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name           text NOT NULL,
    object_key     text NOT NULL UNIQUE,              -- f/<random uuid>: no workspace id in it
    status         text NOT NULL DEFAULT 'uploading' CHECK (status IN ('uploading', 'ready', 'deleting')),
    declared_type  text,
    sniffed_type   text,
    content_type   text NOT NULL DEFAULT 'application/octet-stream',
    size           bigint NOT NULL DEFAULT 0,
    sha256         text,                              -- lowercase hex
    tags           text[] NOT NULL DEFAULT '{}',
    version        integer NOT NULL DEFAULT 1,
    previous_id    uuid REFERENCES files (id) ON DELETE SET NULL,
    created_by     uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX files_workspace ON files (workspace_id, id) WHERE status = 'ready';
CREATE INDEX files_name ON files (workspace_id, name, version) WHERE status = 'ready';
CREATE INDEX files_status ON files (status, updated_at) WHERE status <> 'ready';

CREATE TABLE IF NOT EXISTS events (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type          text NOT NULL,                      -- file.uploaded, ...
    payload       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS events_workspace ON events (workspace_id, id);
