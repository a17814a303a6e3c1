-- 0005_probes.sql (PostgreSQL) - dynamic probes; the same table as SQLite's
-- 0005_probes.sql.

CREATE TABLE probes (
    id             TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES access_requests (id),
    service        TEXT NOT NULL,
    function       TEXT NOT NULL,
    capture_args   BIGINT NOT NULL CHECK (capture_args IN (0, 1)),
    capture_return BIGINT NOT NULL CHECK (capture_return IN (0, 1)),
    sampling_rate  DOUBLE PRECISION NOT NULL CHECK (sampling_rate > 0 AND sampling_rate <= 1),
    conditions     TEXT NOT NULL, -- JSON array of {field, op, value}
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    deleted_at     BIGINT
);

CREATE INDEX probes_service ON probes (service, expires_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON probes TO jitgate_serving;
