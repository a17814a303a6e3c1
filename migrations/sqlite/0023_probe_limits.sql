-- 0023_probe_limits.sql - the per-probe limits (docs/agents.md, "Limits")
-- and the state the server keeps to enforce them.
--
-- max_*: the limits the probe was deployed with (defaults for probes made
-- before this migration).  rate_tokens/rate_at: the probe's token bucket on
-- arrival (tokens left at rate_at, Unix milliseconds), kept in the row so that
-- every replica storing events for the probe shares it; it is read and
-- written in the transaction that stores a batch.  disabled_at/
-- disabled_reason: set once when the server (max_hits) or the agent (cpu)
-- disabled the probe; a disabled probe is never live again.
ALTER TABLE probes ADD COLUMN max_hits INTEGER NOT NULL DEFAULT 100;
ALTER TABLE probes ADD COLUMN max_events_per_second INTEGER NOT NULL DEFAULT 10;
ALTER TABLE probes ADD COLUMN max_depth INTEGER NOT NULL DEFAULT 3;
ALTER TABLE probes ADD COLUMN max_string_bytes INTEGER NOT NULL DEFAULT 255;
ALTER TABLE probes ADD COLUMN max_collection_items INTEGER NOT NULL DEFAULT 100;
ALTER TABLE probes ADD COLUMN max_fields INTEGER NOT NULL DEFAULT 20;
ALTER TABLE probes ADD COLUMN max_cpu_ms_per_second INTEGER NOT NULL DEFAULT 5;
ALTER TABLE probes ADD COLUMN rate_tokens REAL NOT NULL DEFAULT 10;
ALTER TABLE probes ADD COLUMN rate_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE probes ADD COLUMN disabled_at INTEGER;
ALTER TABLE probes ADD COLUMN disabled_reason TEXT;
