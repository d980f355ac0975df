-- 0006: pipeline run state kept by the runtime (Host/NvisyRuntime). `run_id` names a run; the
-- runs table itself (status, definition snapshot) comes with the pipelines API and may add a
-- foreign key to these.
--
-- run_checkpoints: per run and source node, the resume token after which the source restarts
-- (every item up to it reached every sink it was routed to).
CREATE TABLE run_checkpoints (
    run_id        uuid NOT NULL,
    node_id       text NOT NULL,
    resume_token  bytea NOT NULL,
    items         bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, node_id)
);

-- run_item_errors: items that failed for good (the run went on within its error budget).
CREATE TABLE run_item_errors (
    run_id        uuid NOT NULL,
    position      bigserial,
    node_id       text NOT NULL,
    item_token    text NOT NULL,
    message       text NOT NULL,
    retry_class   text NOT NULL CHECK (retry_class IN ('transient', 'permanent')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, position)
);
