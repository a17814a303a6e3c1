-- 0022_session_grant_tokens.sql (PostgreSQL) - the capability tokens jitgate
-- keeps for a browser session, one per (session, grant); the same table as
-- SQLite's 0022_session_grant_tokens.sql (read it for what it means).
-- session_grant.c owns the table.

CREATE TABLE session_grant_tokens (
    session_sha256 BYTEA NOT NULL REFERENCES sessions (id_sha256) ON DELETE CASCADE,
    grant_id       TEXT NOT NULL REFERENCES access_requests (id),
    key_number     BIGINT NOT NULL CHECK (key_number > 0),
    sealed         BYTEA NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (session_sha256, grant_id)
);

CREATE INDEX session_grant_tokens_grant ON session_grant_tokens (grant_id);

GRANT SELECT, INSERT, DELETE, UPDATE (key_number, sealed, expires_at, created_at) ON session_grant_tokens TO jitgate_serving;
