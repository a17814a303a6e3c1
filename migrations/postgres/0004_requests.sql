-- 0004_requests.sql (PostgreSQL) - access requests and their grants
-- (docs/api.md); the same tables as SQLite's 0004_requests.sql.  Flags are
-- integers 0/1 as on SQLite, so the same SQL reads and writes them.

CREATE TABLE access_requests (
    id               TEXT PRIMARY KEY,
    requester        TEXT NOT NULL,
    requester_groups TEXT NOT NULL,                 -- JSON array, as authenticated
    service          TEXT NOT NULL,
    capabilities     TEXT NOT NULL,                 -- JSON array
    duration         BIGINT NOT NULL CHECK (duration > 0),
    justification    TEXT NOT NULL,
    incident         TEXT NOT NULL,
    break_glass      BIGINT NOT NULL CHECK (break_glass IN (0, 1)),
    state            TEXT NOT NULL CHECK (state IN
                         ('pending', 'active', 'denied', 'cancelled', 'expired', 'revoked')),
    decision         TEXT NOT NULL,                 -- JSON: the policy decision
    policy_sha256    TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    pending_until    BIGINT,
    approved_at      BIGINT,
    expires_at       BIGINT,
    ended_at         BIGINT,
    end_reason       TEXT,
    ended_by         TEXT,
    reviewed_by      TEXT,
    reviewed_at      BIGINT,
    review_note      TEXT
);

CREATE INDEX access_requests_state ON access_requests (state, expires_at);
CREATE INDEX access_requests_requester ON access_requests (requester, created_at);

-- One row per (approver, requirement) an approval counted toward.
CREATE TABLE approvals (
    request_id  TEXT NOT NULL REFERENCES access_requests (id),
    approver    TEXT NOT NULL,
    requirement BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (request_id, approver, requirement)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON access_requests, approvals TO jitgate_serving;
