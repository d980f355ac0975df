-- Every change that can alter who a bearer token is, or which role an account has in a
-- workspace, notifies channel nvisy_auth, so that each host's in-memory auth cache
-- (NvisyServer AuthCache) is cleared whichever host or tool made the change.
-- Statement-level triggers: one notification per statement, delivered at commit.
CREATE FUNCTION nvisy_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('nvisy_auth', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

-- A new session or a new account changes nothing already cached; revocation, expiry,
-- deletion and edits do.
CREATE TRIGGER sessions_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION nvisy_auth_changed();
CREATE TRIGGER accounts_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION nvisy_auth_changed();
-- The role cache also remembers "not a member", so a new membership counts.
CREATE TRIGGER workspace_members_auth_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workspace_members
    FOR EACH STATEMENT EXECUTE FUNCTION nvisy_auth_changed();
CREATE TRIGGER workspaces_auth_changed AFTER DELETE OR TRUNCATE ON workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION nvisy_auth_changed();
