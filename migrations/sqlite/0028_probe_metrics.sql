-- 0028_probe_metrics.sql - metric probes (docs/agents.md, "Probe kinds").
--
-- kind gains 'metric': the agent aggregates the calls a probe matches (a
-- count, or a histogram of one numeric field) and sends one point per
-- interval, no argument value.  metric: the metric probe's spec as canonical
-- JSON ({type: count|histogram, field?, interval_seconds}), NULL for the
-- other kinds.  The points are the probe's events (probe_events), read as
-- the metric probe.<id> through the metrics API.
--
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt (the
-- procedure of https://sqlite.org/lang_altertable.html#otheralter): the
-- migration runner turns foreign keys off around SQLite migrations and runs
-- PRAGMA foreign_key_check before committing each one (migrate.c), so
-- probe_events and probe_installs, which reference probes by name, follow
-- the new table.

CREATE TABLE probes_new (
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
    deleted_at     INTEGER,
    max_hits INTEGER NOT NULL DEFAULT 100,
    max_events_per_second INTEGER NOT NULL DEFAULT 10,
    max_depth INTEGER NOT NULL DEFAULT 3,
    max_string_bytes INTEGER NOT NULL DEFAULT 255,
    max_collection_items INTEGER NOT NULL DEFAULT 100,
    max_fields INTEGER NOT NULL DEFAULT 20,
    max_cpu_ms_per_second INTEGER NOT NULL DEFAULT 5,
    rate_tokens REAL NOT NULL DEFAULT 10,
    rate_at INTEGER NOT NULL DEFAULT 0,
    disabled_at INTEGER,
    disabled_reason TEXT,
    args TEXT,
    kind TEXT NOT NULL DEFAULT 'snapshot' CHECK (kind IN ('snapshot', 'log', 'metric')),
    template TEXT CHECK ((kind = 'log') = (template IS NOT NULL)),
    metric TEXT CHECK ((kind = 'metric') = (metric IS NOT NULL))
) STRICT;

INSERT INTO probes_new (id, grant_id, service, function, capture_args, capture_return,
                        sampling_rate, conditions, created_by, created_at, expires_at,
                        deleted_at, max_hits, max_events_per_second, max_depth,
                        max_string_bytes, max_collection_items, max_fields,
                        max_cpu_ms_per_second, rate_tokens, rate_at, disabled_at,
                        disabled_reason, args, kind, template)
    SELECT id, grant_id, service, function, capture_args, capture_return, sampling_rate,
           conditions, created_by, created_at, expires_at, deleted_at, max_hits,
           max_events_per_second, max_depth, max_string_bytes, max_collection_items,
           max_fields, max_cpu_ms_per_second, rate_tokens, rate_at, disabled_at,
           disabled_reason, args, kind, template
    FROM probes;

DROP TABLE probes;
ALTER TABLE probes_new RENAME TO probes;
CREATE INDEX probes_service ON probes (service, expires_at);
