-- 0024_probe_installs.sql - what each agent instance reports of the probes
-- it was given (docs/agents.md, "Probe status"): installed, or failed with a
-- code and the agent's message.
--
-- One row per (probe, instance), replaced by each report of that instance
-- (a report is the instance's whole state for its service: its older rows
-- for the service are deleted first).  service is the reporting ingest
-- key's service, always the probe's own (ids of other services' probes are
-- not stored).  seen_at (Unix seconds) is the last report: an instance that
-- has not reported for 3 x probes.agent_poll_seconds no longer counts, and
-- the sweeper deletes its rows.  probe_status.c owns the table.
CREATE TABLE probe_installs (
    probe_id TEXT NOT NULL REFERENCES probes (id),
    instance TEXT NOT NULL,
    service  TEXT NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('installed', 'failed')),
    code     TEXT,
    message  TEXT,
    seen_at  INTEGER NOT NULL,
    PRIMARY KEY (probe_id, instance),
    CHECK ((state = 'installed') = (code IS NULL))
) STRICT;

CREATE INDEX probe_installs_service ON probe_installs (service, instance);
CREATE INDEX probe_installs_seen ON probe_installs (seen_at);
