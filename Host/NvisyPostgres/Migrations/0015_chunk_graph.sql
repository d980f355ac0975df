-- 0015: chunks join their search indexes after they are stored, not while (issue 13).
--
-- Inserting into an HNSW graph costs more per chunk than embedding it with the local model, and
-- the tsvector and its GIN entries cost nearly as much again, so indexing a file was bound by
-- its own indexes. Now a chunk is stored with `graphed = false` and no `tsv`: the per-model HNSW
-- index covers graphed chunks only (its predicate below), and the chunk is searchable at once
-- through an exact scan of the model's pending chunks (ChunkSearch merges both rankings with
-- those of the indexes). The graph builder (ChunkGraph) sets `graphed` and `tsv` on pending
-- chunks in the background: one update puts the chunk into the HNSW graph and the text index.
-- Rows stored before this migration are in both already.
ALTER TABLE chunks ADD COLUMN graphed boolean NOT NULL DEFAULT true;
ALTER TABLE chunks ALTER COLUMN graphed SET DEFAULT false;
-- Written by the graph builder now (stored values stay).
ALTER TABLE chunks ALTER COLUMN tsv DROP EXPRESSION;

-- A chunk row (text, tsvector, a 256-dimension vector: ≈ 3 KB) passes TOAST's 2 KB threshold, so
-- every insert and graph update tried to pglz-compress its vector and tsvector, which hardly
-- compress. Rows up to a page stay inline and uncompressed now (a bigger row is still toasted).
ALTER TABLE chunks SET (toast_tuple_target = 8160);

-- The pending chunks of a model (and workspace): what the exact scan and the builder read.
CREATE INDEX chunks_pending ON chunks (model_id, workspace_id) WHERE NOT graphed;

-- nvisy_chunk_index(model_id): as in 0008, the index now covering graphed chunks only.
CREATE OR REPLACE FUNCTION nvisy_chunk_index(model integer) RETURNS text LANGUAGE plpgsql AS $$
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
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON chunks USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE model_id = %s AND graphed',
                   index_name, dims, model);
    RETURN index_name;
END $$;

-- Existing models' indexes again with the new predicate (rebuilt once, from the stored rows).
DO $$
DECLARE
    m integer;
BEGIN
    FOR m IN SELECT id FROM embedding_models LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I', 'chunks_hnsw_m' || m);
        PERFORM nvisy_chunk_index(m);
    END LOOP;
END $$;
