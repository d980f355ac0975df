-- 0005: webhooks. The events outbox (created by 0004 for file.uploaded; created here too if
-- absent) gets `dispatched_at`; endpoints, one delivery per (endpoint, event), and each attempt.
CREATE TABLE IF NOT EXISTS events (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type          text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE events ADD COLUMN IF NOT EXISTS dispatched_at timestamptz;
CREATE INDEX IF NOT EXISTS events_undispatched ON events (id) WHERE dispatched_at IS NULL;

CREATE TABLE webhooks (
    id                          uuid PRIMARY KEY,
    workspace_id                uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url                         text NOT NULL,
    description                 text,
    event_types                 text[] NOT NULL,           -- 'pipeline.run.completed', 'file.*', '*'
    headers                     jsonb NOT NULL DEFAULT '{}',
    status                      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    paused_reason               text,
    secret                      bytea NOT NULL,            -- 32 bytes, CredentialCipher-sealed unless secret_sealed = false
    secret_sealed               boolean NOT NULL,
    previous_secret             bytea,                     -- still signs until previous_expires_at
    previous_expires_at         timestamptz,
    failing_since               timestamptz,               -- first failure since the last success
    created_by                  uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, id);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,                    -- the webhook-id header
    event_type       text NOT NULL,
    body             text NOT NULL,                    -- the exact JSON body signed and sent
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    cycle_attempts   integer NOT NULL DEFAULT 0,       -- attempts since creation or the last manual retry
    next_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    queued           boolean NOT NULL DEFAULT false,   -- handed to JetStream for the current attempt
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhook_deliveries_unqueued ON webhook_deliveries (id) WHERE status = 'pending' AND NOT queued;

CREATE TABLE webhook_attempts (
    id             uuid PRIMARY KEY,
    delivery_id    uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt        integer NOT NULL,
    attempted_at   timestamptz NOT NULL DEFAULT now(),
    status_code    integer,
    latency_ms     integer NOT NULL,
    error          text,
    next_retry_at  timestamptz
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
