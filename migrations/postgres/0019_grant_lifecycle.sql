-- 0019_grant_lifecycle.sql (PostgreSQL) - scheduled starts and extensions
-- of grants; the same states and columns as SQLite's 0019_grant_lifecycle.sql
-- (read it for what they mean), altered in place.  access.c owns the table;
-- the serving role's table-wide grants (0004) cover the new columns.

ALTER TABLE access_requests DROP CONSTRAINT access_requests_state_check;
ALTER TABLE access_requests ADD CONSTRAINT access_requests_state_check CHECK (state IN
    ('pending', 'scheduled', 'active', 'granted', 'denied', 'cancelled', 'expired', 'revoked'));

ALTER TABLE access_requests ADD COLUMN starts_at BIGINT;
ALTER TABLE access_requests ADD COLUMN activated_at BIGINT;
ALTER TABLE access_requests ADD COLUMN extends TEXT REFERENCES access_requests (id);

UPDATE access_requests SET activated_at = approved_at;

CREATE INDEX access_requests_starts ON access_requests (state, starts_at);
CREATE INDEX access_requests_extends ON access_requests (extends) WHERE extends IS NOT NULL;
