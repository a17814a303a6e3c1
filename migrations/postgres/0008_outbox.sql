-- 0008_outbox.sql (PostgreSQL) - the notification outbox and the audit
-- stream's position (docs/notifications.md); the same tables as SQLite's
-- 0008_outbox.sql.

CREATE TABLE notify_outbox (
    id              TEXT PRIMARY KEY,
    sink            TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,   -- the event as JSON (docs/notifications.md)
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL, -- Unix milliseconds
    created_at      BIGINT NOT NULL, -- Unix milliseconds
    delivered_at    BIGINT,
    last_error      TEXT
);

CREATE INDEX notify_outbox_due ON notify_outbox (sink, state, next_attempt_at, created_at);

CREATE TABLE notify_marks (
    request_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (request_id, kind)
);

CREATE TABLE audit_stream (
    destination TEXT PRIMARY KEY,
    next_seq    BIGINT NOT NULL CHECK (next_seq >= 0),
    updated_at  BIGINT NOT NULL
);

-- The timer looks for unreviewed break-glass grants every second.
CREATE INDEX notify_break_glass_unreviewed ON access_requests (created_at)
    WHERE break_glass = 1 AND reviewed_at IS NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON notify_outbox, notify_marks, audit_stream TO jitgate_serving;
