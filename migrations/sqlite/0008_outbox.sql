-- 0008_outbox.sql - the notification outbox and the audit stream's position
-- (docs/notifications.md).
--
-- notify_outbox: one row per notification and sink, inserted in the same
-- transaction as the change that causes it, so a committed change always
-- has its notifications and a rolled-back one never does.  A worker per
-- sink delivers the pending rows (oldest first) and retries with
-- exponential backoff; id is the idempotency key the receiver sees, the
-- same on every attempt.  After the configured number of attempts a row is
-- 'dead' (kept for operators; never retried on its own).
--
-- notify_marks: which one-off time-based notifications (reminder,
-- escalation, grant expiring, review overdue) a request already had, so a
-- restart does not repeat them.
--
-- audit_stream: per stream destination, the next audit seq to forward
-- (every entry below it was acknowledged by the receiver).

CREATE TABLE notify_outbox (
    id              TEXT PRIMARY KEY,
    sink            TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,   -- the event as JSON (docs/notifications.md)
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL, -- Unix milliseconds
    created_at      INTEGER NOT NULL, -- Unix milliseconds
    delivered_at    INTEGER,
    last_error      TEXT
) STRICT;

CREATE INDEX notify_outbox_due ON notify_outbox (sink, state, next_attempt_at, created_at);

CREATE TABLE notify_marks (
    request_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (request_id, kind)
) STRICT;

CREATE TABLE audit_stream (
    destination TEXT PRIMARY KEY,
    next_seq    INTEGER NOT NULL CHECK (next_seq >= 0),
    updated_at  INTEGER NOT NULL
) STRICT;

-- The timer looks for unreviewed break-glass grants every second.
CREATE INDEX notify_break_glass_unreviewed ON access_requests (created_at)
    WHERE break_glass = 1 AND reviewed_at IS NULL;
