-- The auth cache (NvisyServer AuthCache) also keeps workspace rows, so a rename or any other
-- edit of a workspace must clear it on every host, like a deletion already did (0012).
DROP TRIGGER workspaces_auth_changed ON workspaces;
CREATE TRIGGER workspaces_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE ON workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION nvisy_auth_changed();
