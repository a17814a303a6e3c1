-- 0004_requests.sql - access requests and their grants (docs/api.md).
--
-- A request is created pending (or active at once when no approval is
-- needed), becomes active on its last required approval, and ends expired,
-- revoked, denied or cancelled.  The grant is the active request: its id is
-- the request's id.  decision holds the policy decision in force when it
-- was made (requirements, rules, policy set hash), so approvals are judged
-- against what was decided, and an auditor can replay it.

CREATE TABLE access_requests (
    id               TEXT PRIMARY KEY,
    requester        TEXT NOT NULL,
    requester_groups TEXT NOT NULL,                 -- JSON array, as authenticated
    service          TEXT NOT NULL,
    capabilities     TEXT NOT NULL,                 -- JSON array
    duration         INTEGER NOT NULL CHECK (duration > 0),
    justification    TEXT NOT NULL,
    incident         TEXT NOT NULL,
    break_glass      INTEGER NOT NULL CHECK (break_glass IN (0, 1)),
    state            TEXT NOT NULL CHECK (state IN
                         ('pending', 'active', 'denied', 'cancelled', 'expired', 'revoked')),
    decision         TEXT NOT NULL,                 -- JSON: the policy decision
    policy_sha256    TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    pending_until    INTEGER,
    approved_at      INTEGER,
    expires_at       INTEGER,
    ended_at         INTEGER,
    end_reason       TEXT,
    ended_by         TEXT,
    reviewed_by      TEXT,
    reviewed_at      INTEGER,
    review_note      TEXT
) STRICT;

CREATE INDEX access_requests_state ON access_requests (state, expires_at);
CREATE INDEX access_requests_requester ON access_requests (requester, created_at);

-- One row per (approver, requirement) an approval counted toward.
CREATE TABLE approvals (
    request_id  TEXT NOT NULL REFERENCES access_requests (id),
    approver    TEXT NOT NULL,
    requirement INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver, requirement)
) STRICT;
