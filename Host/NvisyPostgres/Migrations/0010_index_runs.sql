-- 0010: indexing into the knowledge base (issue 13): generations of a file's chunks, the index
-- requests behind each file's status, and the per-workspace indexing settings.
--
-- A file is (re-)indexed by a run. Its chunks are written under that run (`index_run`) while the
-- previous generation stays visible; when the last chunk of the file has arrived, one
-- transaction deletes every other generation (and the chunks of older versions of the same file
-- name) and points file_index_status.index_run at the new one. Search only reads chunks of the
-- generation file_index_status names, so it sees the old chunks or the new, never a mix.
ALTER TABLE chunks ADD COLUMN index_run uuid;
ALTER TABLE chunks DROP CONSTRAINT chunks_file_id_model_id_position_key;
ALTER TABLE chunks ADD CONSTRAINT chunks_generation_position UNIQUE (file_id, model_id, index_run, position);
ALTER TABLE file_index_status ADD COLUMN index_run uuid;

-- file_index_requests: the latest request to index each file (the API, or an upload with
-- indexing on). Its run's outcome is the file's pending / failed state until the run's chunks
-- become the visible generation.
CREATE TABLE file_index_requests (
    file_id        uuid PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    file_version   integer NOT NULL,
    model_name     text NOT NULL,             -- e.g. "local/embeddings:wordllama"
    connection_id  uuid REFERENCES connections (id) ON DELETE SET NULL,
    run_id         uuid NOT NULL,
    requested_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX file_index_requests_workspace ON file_index_requests (workspace_id);

-- workspace_index_settings: which embedding connection indexes and searches the workspace, and
-- whether an upload is indexed at once. No row: defaults (see IndexSettings in the server).
CREATE TABLE workspace_index_settings (
    workspace_id             uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    embedding_connection_id  uuid REFERENCES connections (id) ON DELETE SET NULL,
    index_on_upload          boolean NOT NULL DEFAULT false,
    updated_at               timestamptz NOT NULL DEFAULT now()
);
