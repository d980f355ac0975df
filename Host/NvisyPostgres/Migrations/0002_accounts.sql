-- 0002: accounts, sessions (one row per issued JWT) and API tokens.
CREATE TABLE accounts (
    id                uuid PRIMARY KEY,
    email             text NOT NULL,
    email_key         text NOT NULL UNIQUE,          -- lower(email): the login name
    display_name      text NOT NULL,
    password_hash     text NOT NULL,                 -- libsodium crypto_pwhash_str (Argon2id)
    is_instance_admin boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- At most one account is marked as the instance's first admin by signup.
CREATE UNIQUE INDEX accounts_first_admin ON accounts (is_instance_admin) WHERE is_instance_admin;

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,                    -- the JWT's jti
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          text NOT NULL,
    prefix        text NOT NULL,
    token_hash    text NOT NULL UNIQUE,              -- SHA-256 hex of the secret
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_account ON api_tokens (account_id, id);
