-- 0003_identity.sql - browser logins and sessions (docs/identity.md).
--
-- auth_flows: one row per login in progress (authorization code flow with
-- PKCE), keyed by the SHA-256 of its state; taken (deleted) by the callback,
-- so a state or code works once.  sessions: jitgate's own server-side
-- sessions, keyed by the SHA-256 of the cookie value (the database never
-- holds a usable session id).

CREATE TABLE auth_flows (
    state_sha256  BLOB PRIMARY KEY CHECK (length(state_sha256) = 32),
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id_sha256  BLOB PRIMARY KEY CHECK (length(id_sha256) = 32),
    sub        TEXT NOT NULL,
    email      TEXT NOT NULL,
    name       TEXT NOT NULL,
    groups     TEXT NOT NULL, -- JSON array of strings
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_sub ON sessions (sub);
