-- 0003: workspaces, their members (with a role), invites and the activity log.
CREATE TABLE workspaces (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    description  text,
    created_by   uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_members (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    joined_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, account_id)
);
CREATE INDEX workspace_members_account ON workspace_members (account_id, workspace_id);

CREATE TABLE workspace_invites (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email_key     text,                              -- lower(email); null = a shareable code
    email         text,
    role          text NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    code_hash     text NOT NULL UNIQUE,              -- SHA-256 hex of the code
    invited_by    uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    answered_by   uuid REFERENCES accounts (id) ON DELETE SET NULL,
    answered_at   timestamptz
);
CREATE INDEX workspace_invites_workspace ON workspace_invites (workspace_id, id) WHERE status = 'pending';
CREATE INDEX workspace_invites_email ON workspace_invites (email_key, id) WHERE status = 'pending';

CREATE TABLE workspace_activities (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    actor_id      uuid REFERENCES accounts (id) ON DELETE SET NULL,
    action        text NOT NULL,
    target_type   text,
    target_id     uuid,
    details       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workspace_activities_workspace ON workspace_activities (workspace_id, id DESC);
