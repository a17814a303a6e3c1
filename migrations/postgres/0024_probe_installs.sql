-- 0024_probe_installs.sql (PostgreSQL) - what each agent instance reports of
-- the probes it was given; the same table as SQLite's
-- 0024_probe_installs.sql (read it for what it means).  probe_status.c owns
-- the table.
CREATE TABLE probe_installs (
    probe_id TEXT NOT NULL REFERENCES probes (id),
    instance TEXT NOT NULL,
    service  TEXT NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('installed', 'failed')),
    code     TEXT,
    message  TEXT,
    seen_at  BIGINT NOT NULL,
    PRIMARY KEY (probe_id, instance),
    CHECK ((state = 'installed') = (code IS NULL))
);

CREATE INDEX probe_installs_service ON probe_installs (service, instance);
CREATE INDEX probe_installs_seen ON probe_installs (seen_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON probe_installs TO jitgate_serving;
