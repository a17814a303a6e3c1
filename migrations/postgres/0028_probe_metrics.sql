-- 0028_probe_metrics.sql (PostgreSQL) - metric probes; the same kind and
-- column as SQLite's 0028_probe_metrics.sql (read it for what they mean).
-- The kind's column check of 0027 has PostgreSQL's default name.
ALTER TABLE probes DROP CONSTRAINT probes_kind_check;
ALTER TABLE probes ADD CONSTRAINT probes_kind_check
    CHECK (kind IN ('snapshot', 'log', 'metric'));
ALTER TABLE probes ADD COLUMN metric TEXT;
ALTER TABLE probes ADD CONSTRAINT probes_metric_spec CHECK ((kind = 'metric') = (metric IS NOT NULL));
