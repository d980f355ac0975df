-- 0009: which master key sealed a webhook's secrets (current and previous, sealed together), so
-- that `nvisy keys rotate` re-seals them like connection credentials and a host opens each with
-- the key it was sealed under. NULL: sealed before key ids (the current key), or not sealed.
ALTER TABLE webhooks ADD COLUMN key_id text;
CREATE INDEX webhooks_key ON webhooks (key_id) WHERE secret_sealed;
