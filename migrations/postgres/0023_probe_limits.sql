-- 0023_probe_limits.sql (PostgreSQL) - the per-probe limits and the state
-- kept to enforce them; the same columns as SQLite's 0023_probe_limits.sql
-- (read it for what they mean).  The serving role already holds UPDATE on
-- the whole probes table (0005_probes.sql).
ALTER TABLE probes ADD COLUMN max_hits BIGINT NOT NULL DEFAULT 100;
ALTER TABLE probes ADD COLUMN max_events_per_second BIGINT NOT NULL DEFAULT 10;
ALTER TABLE probes ADD COLUMN max_depth BIGINT NOT NULL DEFAULT 3;
ALTER TABLE probes ADD COLUMN max_string_bytes BIGINT NOT NULL DEFAULT 255;
ALTER TABLE probes ADD COLUMN max_collection_items BIGINT NOT NULL DEFAULT 100;
ALTER TABLE probes ADD COLUMN max_fields BIGINT NOT NULL DEFAULT 20;
ALTER TABLE probes ADD COLUMN max_cpu_ms_per_second BIGINT NOT NULL DEFAULT 5;
ALTER TABLE probes ADD COLUMN rate_tokens DOUBLE PRECISION NOT NULL DEFAULT 10;
ALTER TABLE probes ADD COLUMN rate_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probes ADD COLUMN disabled_at BIGINT;
ALTER TABLE probes ADD COLUMN disabled_reason TEXT;
