-- 0014_action_refusals.sql (PostgreSQL) - refused lifecycle actions,
-- counted per identity (docs/api.md); the same table as SQLite's
-- 0014_action_refusals.sql.  access.c owns this table.

CREATE TABLE action_refusals (
    actor        TEXT PRIMARY KEY,     -- "user:<sub>"
    window_start BIGINT NOT NULL,      -- Unix seconds of the window's first refusal
    recorded     BIGINT NOT NULL,      -- request.action_refused entries written in it
    suppressed   BIGINT NOT NULL,      -- refusals counted but not written
    actions      TEXT NOT NULL         -- the suppressed ones by action: {"approve": 3, ...}
);

CREATE INDEX action_refusals_window ON action_refusals (window_start);

GRANT SELECT, INSERT, UPDATE, DELETE ON action_refusals TO jitgate_serving;
