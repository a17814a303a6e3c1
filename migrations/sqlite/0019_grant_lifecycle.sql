-- 0019_grant_lifecycle.sql - scheduled starts and extensions of grants
-- (docs/api.md, issue 19).  access.c owns the table.
--
-- Two new states:
--   scheduled  approved, waiting for its starts_at: not a usable grant (every
--              grant check wants 'active'); the sweeper activates it.
--   granted    an extension request whose approval was applied to the grant
--              it extends (an extension is never a grant itself).
-- Three new columns:
--   starts_at     when the requester asked the grant to start (NULL: at its
--                 last approval, as before);
--   activated_at  when the grant became active: max(starts_at, last
--                 approval); the grant's window is activated_at .. expires_at.
--                 Backfilled from approved_at, which it equalled until now;
--                 NULL on a grant an older release activated during a
--                 rolling upgrade (PostgreSQL): read as approved_at;
--   extends       for an extension request, the grant it extends (NULL for
--                 every other request).
--
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt (the
-- procedure of https://sqlite.org/lang_altertable.html#otheralter): the
-- migration runner turns foreign keys off around SQLite migrations and runs
-- PRAGMA foreign_key_check before committing each one (migrate.c), so the
-- approvals and probes that reference access_requests by name follow the
-- new table.

CREATE TABLE access_requests_new (
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
                         ('pending', 'scheduled', 'active', 'granted', 'denied', 'cancelled',
                          'expired', 'revoked')),
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
    review_note      TEXT,
    starts_at        INTEGER,
    activated_at     INTEGER,
    extends          TEXT REFERENCES access_requests (id)
) STRICT;

INSERT INTO access_requests_new
    (id, requester, requester_groups, service, capabilities, duration, justification, incident,
     break_glass, state, decision, policy_sha256, created_at, pending_until, approved_at,
     expires_at, ended_at, end_reason, ended_by, reviewed_by, reviewed_at, review_note,
     starts_at, activated_at, extends)
SELECT id, requester, requester_groups, service, capabilities, duration, justification, incident,
       break_glass, state, decision, policy_sha256, created_at, pending_until, approved_at,
       expires_at, ended_at, end_reason, ended_by, reviewed_by, reviewed_at, review_note,
       NULL, approved_at, NULL
  FROM access_requests;

DROP TABLE access_requests;
ALTER TABLE access_requests_new RENAME TO access_requests;

CREATE INDEX access_requests_state ON access_requests (state, expires_at);
CREATE INDEX access_requests_requester ON access_requests (requester, created_at);
-- The sweeper looks for scheduled grants whose start has come.
CREATE INDEX access_requests_starts ON access_requests (state, starts_at);
-- A grant's extensions (at most one pending).
CREATE INDEX access_requests_extends ON access_requests (extends) WHERE extends IS NOT NULL;
-- The timer looks for unreviewed break-glass grants every second (0008_outbox.sql).
CREATE INDEX notify_break_glass_unreviewed ON access_requests (created_at)
    WHERE break_glass = 1 AND reviewed_at IS NULL;
