-- 0005_probes.sql - dynamic probes (the seed's DynamicProbe).
--
-- A probe belongs to the grant that deployed it: it is live while it is
-- neither deleted nor past expires_at (clipped to the grant's end) and its
-- grant is still active, so revoking or expiring the grant disables it at
-- once.

CREATE TABLE probes (
    id             TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES access_requests (id),
    service        TEXT NOT NULL,
    function       TEXT NOT NULL,
    capture_args   INTEGER NOT NULL CHECK (capture_args IN (0, 1)),
    capture_return INTEGER NOT NULL CHECK (capture_return IN (0, 1)),
    sampling_rate  REAL NOT NULL CHECK (sampling_rate > 0 AND sampling_rate <= 1),
    conditions     TEXT NOT NULL, -- JSON array of {field, op, value}
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    deleted_at     INTEGER
) STRICT;

CREATE INDEX probes_service ON probes (service, expires_at);
