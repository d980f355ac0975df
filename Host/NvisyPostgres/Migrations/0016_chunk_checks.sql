-- 0016: the checks on a chunk row at insert, made cheaper (issue 13: indexing throughput).
--
-- 1. A vector's dimension is checked by one CHECK constraint per model, made with the model's HNSW
--    index by nvisy_chunk_index, instead of the BEFORE trigger of 0008: a constraint is an
--    expression evaluated in the row's insert, where the trigger ran a query per row, and a table
--    with a BEFORE ROW trigger makes COPY insert rows one at a time instead of in batches.
-- 2. A chunk's file and workspace are checked by one foreign key (the file, in that workspace)
--    instead of two: one lookup per row instead of two, and a chunk can no longer name a workspace
--    other than its file's. Deleting a workspace still deletes its chunks (through its files).

ALTER TABLE files ADD CONSTRAINT files_id_workspace UNIQUE (id, workspace_id);
ALTER TABLE chunks DROP CONSTRAINT chunks_workspace_id_fkey;
ALTER TABLE chunks DROP CONSTRAINT chunks_file_id_fkey;
ALTER TABLE chunks ADD CONSTRAINT chunks_file_in_workspace
    FOREIGN KEY (file_id, workspace_id) REFERENCES files (id, workspace_id) ON DELETE CASCADE;

DROP TRIGGER chunks_check_dimension ON chunks;
DROP FUNCTION nvisy_chunks_check_dimension();

-- nvisy_chunk_index(model_id): makes (once) that model's HNSW cosine index over graphed chunks
-- (0015) and its dimension check, and returns the index's name. Called when a model is first
-- used, before any chunk of it is written; safe to call again and from several hosts at once.
CREATE OR REPLACE FUNCTION nvisy_chunk_index(model integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    dims integer;
    index_name text := 'chunks_hnsw_m' || model;
    check_name text := 'chunks_dims_m' || model;
BEGIN
    SELECT dimensions INTO dims FROM embedding_models WHERE id = model;
    IF dims IS NULL THEN
        RAISE EXCEPTION 'no embedding model %', model USING ERRCODE = '22023';
    END IF;
    -- Serialise concurrent creators of the same index (CREATE INDEX IF NOT EXISTS alone races).
    PERFORM pg_advisory_xact_lock(hashtext('nvisy_chunk_index'), model);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON chunks USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE model_id = %s AND graphed',
                   index_name, dims, model);
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'chunks'::regclass AND conname = check_name) THEN
        -- NOT VALID skips scanning the table for old rows (under the lock ALTER TABLE holds):
        -- this runs before the model's first chunk is written, so there are none to check.
        EXECUTE format('ALTER TABLE chunks ADD CONSTRAINT %I CHECK (model_id <> %s OR vector_dims(embedding) = %s) NOT VALID',
                       check_name, model, dims);
    END IF;
    RETURN index_name;
END $$;

-- The models already in use get their check, validated against their stored chunks (which the
-- trigger checked as they were written).
DO $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT id, dimensions FROM embedding_models LOOP
        EXECUTE format('ALTER TABLE chunks ADD CONSTRAINT %I CHECK (model_id <> %s OR vector_dims(embedding) = %s)',
                       'chunks_dims_m' || m.id, m.id, m.dimensions);
    END LOOP;
END $$;
