-- 0001: the extensions the schema needs (pgvector for embeddings).
CREATE EXTENSION IF NOT EXISTS vector;
