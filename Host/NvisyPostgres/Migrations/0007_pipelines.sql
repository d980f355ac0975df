-- 0007: pipelines (a JSON graph owned by a workspace) and their runs. A run keeps a snapshot of
-- the definition it ran; the worker that runs it holds a lease (worker id + expiry) renewed
-- while it works, so a second worker never runs it at the same time and a dead worker's run is
-- taken over once the lease has expired.
CREATE TABLE pipelines (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL,
    description   text,
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'enabled', 'disabled')),
    definition    jsonb NOT NULL,
    -- {"schedule": "*/5 * * * *", "onFileUpload": true}: what starts a run besides a user.
    triggers      jsonb NOT NULL DEFAULT '{}',
    next_run_at   timestamptz,                       -- the schedule's next firing (enabled pipelines)
    created_by    uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);
CREATE INDEX pipelines_workspace ON pipelines (workspace_id, id);
CREATE INDEX pipelines_schedule ON pipelines (next_run_at) WHERE status = 'enabled' AND next_run_at IS NOT NULL;

CREATE TABLE runs (
    id                uuid PRIMARY KEY,
    workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    pipeline_id       uuid REFERENCES pipelines (id) ON DELETE SET NULL,
    pipeline_name     text NOT NULL,
    definition        jsonb NOT NULL,                -- the snapshot this run runs
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    trigger           text NOT NULL DEFAULT 'manual' CHECK (trigger IN ('manual', 'schedule', 'file')),
    trigger_detail    jsonb,
    cancel_requested  boolean NOT NULL DEFAULT false,
    attempts          integer NOT NULL DEFAULT 0,
    worker_id         text,
    lease_expires_at  timestamptz,
    progress          jsonb,                         -- the last RunProgress snapshot
    items_read        bigint NOT NULL DEFAULT 0,
    items_written     bigint NOT NULL DEFAULT 0,
    items_failed      bigint NOT NULL DEFAULT 0,
    error             text,
    error_retry       text,
    created_by        uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runs_workspace ON runs (workspace_id, id DESC);
CREATE INDEX runs_pipeline ON runs (pipeline_id, id DESC);
CREATE INDEX runs_active ON runs (status) WHERE status IN ('queued', 'running');
