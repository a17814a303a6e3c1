-- 0022_session_grant_tokens.sql - the capability tokens jitgate keeps for a
-- browser session, one per (session, grant) (docs/web.md, "Debugging
-- pages"; include/jitgate/session_grant.h).  session_grant.c owns the table.
--
-- The debugging pages act through the guard with a capability token the
-- browser never sees: minted on first use (an audited token.issued),
-- reused while more than 60 s remain, renewed otherwise.  sealed is the
-- token encrypted with AES-256-GCM under the session-token key key_number
-- of key_dir (nonce || ciphertext || tag), its AAD binding it to
-- session_sha256, grant_id and expires_at: a row moved to another session
-- or grant does not decrypt.  A row goes with its session (ON DELETE
-- CASCADE: sign-out, expiry, off-boarding) and is deleted at its grant's
-- end (access_end.c, in the end's transaction).

CREATE TABLE session_grant_tokens (
    session_sha256 BLOB NOT NULL REFERENCES sessions (id_sha256) ON DELETE CASCADE,
    grant_id       TEXT NOT NULL REFERENCES access_requests (id),
    key_number     INTEGER NOT NULL CHECK (key_number > 0),
    sealed         BLOB NOT NULL,
    expires_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (session_sha256, grant_id)
) STRICT;

CREATE INDEX session_grant_tokens_grant ON session_grant_tokens (grant_id);
