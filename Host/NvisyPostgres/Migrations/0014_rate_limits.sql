-- Login and signup attempt counters shared by every host (before, each host counted alone, so
-- N hosts allowed N times the limit). Keys are SHA-256 digests of "ip:…" / "email:…", so no
-- address typed by a stranger is stored. UNLOGGED: counters need no crash safety, and writes
-- skip the WAL.
CREATE UNLOGGED TABLE rate_limits (
    key          bytea PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL
);
CREATE INDEX rate_limits_window_start ON rate_limits (window_start);
