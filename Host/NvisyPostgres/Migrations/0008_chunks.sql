-- 0008: the knowledge base (issue 13): chunks of indexed files with their embeddings, for vector,
-- full-text and hybrid search. Several embedding models coexist, each with its own dimension.
--
-- embedding_models: one row per (model, dimension). A chunk's vector belongs to exactly one, and
-- is only ever compared with vectors of the same model: different models' spaces are unrelated.
CREATE TABLE embedding_models (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,                  -- e.g. "local/embeddings:wordllama", "openai/embeddings:text-embedding-3-small"
    dimensions  integer NOT NULL CHECK (dimensions BETWEEN 1 AND 2000),   -- HNSW on vector supports ≤ 2000
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, dimensions)
);

-- chunks: `embedding` is an untyped `vector` so that one table holds every dimension; the HNSW
-- index is per model: a partial index on `embedding::vector(<dimensions>)` WHERE model_id = <id>
-- (made by nvisy_chunk_index below). A search names the model and casts the same way, e.g.
--   SELECT id FROM chunks WHERE model_id = 3 AND workspace_id = $1
--   ORDER BY embedding::vector(256) <=> $2::vector(256) LIMIT 10;
-- so the planner uses that model's index, and a vector of another dimension can never be compared.
CREATE TABLE chunks (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    file_id       uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    file_version  integer NOT NULL,
    position      integer NOT NULL CHECK (position >= 0),        -- order of the chunk in its file
    page          integer,                                        -- PDF page (1-based), when known
    section       text,                                           -- heading path, when known
    start_offset  integer NOT NULL CHECK (start_offset >= 0),     -- character range in the document text
    end_offset    integer NOT NULL CHECK (end_offset >= start_offset),
    text          text NOT NULL,
    token_count   integer NOT NULL CHECK (token_count >= 0),
    tags          text[] NOT NULL DEFAULT '{}',
    model_id      integer NOT NULL REFERENCES embedding_models (id),
    embedding     vector NOT NULL,
    -- 'simple' keeps every word (no stemming, no stop words) so it works for any language;
    -- hybrid search adds the semantic side.
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (file_id, model_id, position)
);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX chunks_scope ON chunks (workspace_id, model_id, file_id);
CREATE INDEX chunks_tags ON chunks USING gin (tags);

-- A vector of the wrong dimension for its model is refused at insert (not at query time).
CREATE FUNCTION nvisy_chunks_check_dimension() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    want integer;
BEGIN
    SELECT dimensions INTO want FROM embedding_models WHERE id = NEW.model_id;
    IF vector_dims(NEW.embedding) <> want THEN
        RAISE EXCEPTION 'chunk embedding has % dimensions, model % has %', vector_dims(NEW.embedding), NEW.model_id, want
            USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER chunks_check_dimension BEFORE INSERT OR UPDATE OF embedding, model_id ON chunks
    FOR EACH ROW EXECUTE FUNCTION nvisy_chunks_check_dimension();

-- nvisy_chunk_index(model_id): makes (once) that model's HNSW cosine index and returns its name.
-- Called when a model is first used; safe to call again and from several hosts at once.
CREATE FUNCTION nvisy_chunk_index(model integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    dims integer;
    index_name text := 'chunks_hnsw_m' || model;
BEGIN
    SELECT dimensions INTO dims FROM embedding_models WHERE id = model;
    IF dims IS NULL THEN
        RAISE EXCEPTION 'no embedding model %', model USING ERRCODE = '22023';
    END IF;
    -- Serialise concurrent creators of the same index (CREATE INDEX IF NOT EXISTS alone races).
    PERFORM pg_advisory_xact_lock(hashtext('nvisy_chunk_index'), model);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON chunks USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE model_id = %s',
                   index_name, dims, model);
    RETURN index_name;
END $$;

-- file_index_status: where indexing of each file stands (pending / indexed / failed + reason).
-- Re-indexing a new version deletes the old version's chunks and inserts the new ones in one
-- transaction, so a search sees either the old chunks or the new, never a mix.
CREATE TABLE file_index_status (
    file_id       uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    model_id      integer NOT NULL REFERENCES embedding_models (id),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    file_version  integer NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'indexed', 'failed')),
    reason        text,
    chunk_count   integer NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, model_id)
);
CREATE INDEX file_index_status_workspace ON file_index_status (workspace_id, status);
