-- 0025_probe_budget.sql (PostgreSQL) - budgets carried by the grant and what
-- each grant spent of its own; the same columns and table as SQLite's
-- 0025_probe_budget.sql (read it for what they mean).  The serving role
-- already holds UPDATE on the whole access_requests table (0004_requests.sql).
ALTER TABLE access_requests ADD COLUMN probe_max_probes BIGINT;
ALTER TABLE access_requests ADD COLUMN probe_max_hits BIGINT;
ALTER TABLE access_requests ADD COLUMN probe_max_bytes BIGINT;

CREATE TABLE probe_grant_usage (
    grant_id         TEXT PRIMARY KEY REFERENCES access_requests (id),
    probes           BIGINT NOT NULL DEFAULT 0,
    hits             BIGINT NOT NULL DEFAULT 0,
    bytes            BIGINT NOT NULL DEFAULT 0,
    probes_exhausted_at BIGINT,
    events_exhausted_at BIGINT
);

GRANT SELECT, INSERT, UPDATE ON probe_grant_usage TO jitgate_serving;
