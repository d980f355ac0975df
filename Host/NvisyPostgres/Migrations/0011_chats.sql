-- 0011: chat sessions over a workspace's knowledge base (issue 13). A chat names the completion
-- connection that answers and the embedding connection whose chunks it retrieves, optionally
-- scoped to some files and/or tags. (0010 belongs to indexing.)
--
-- The connections are nullable with ON DELETE SET NULL: deleting a connection must not delete
-- the conversations made with it; posting to such a chat answers 422 until it names another.
CREATE TABLE chats (
    id                        uuid PRIMARY KEY,
    workspace_id              uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    title                     text NOT NULL,
    completion_connection_id  uuid REFERENCES connections (id) ON DELETE SET NULL,
    embedding_connection_id   uuid REFERENCES connections (id) ON DELETE SET NULL,
    file_ids                  uuid[] NOT NULL DEFAULT '{}',    -- empty: every file of the workspace
    tags                      text[] NOT NULL DEFAULT '{}',    -- empty: any tag; else a chunk needs one of them
    system_prompt             text,
    top_k                     integer NOT NULL DEFAULT 5 CHECK (top_k BETWEEN 0 AND 50),
    created_by                uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chats_workspace ON chats (workspace_id, id);

-- chat_messages: ids are UUIDv7, so id order is the order they were written in. An answer keeps
-- the chunks it was given as citations ([{"index","chunkId","fileId","fileName","page",...}]) and
-- the model's token usage; finish_reason 'cancelled' marks an answer cut short by its client.
CREATE TABLE chat_messages (
    id                 uuid PRIMARY KEY,
    chat_id            uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    role               text NOT NULL CHECK (role IN ('user', 'assistant')),
    content            text NOT NULL,
    citations          jsonb NOT NULL DEFAULT '[]',
    prompt_tokens      integer CHECK (prompt_tokens >= 0),
    completion_tokens  integer CHECK (completion_tokens >= 0),
    finish_reason      text,
    created_by         uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_chat ON chat_messages (chat_id, id);
