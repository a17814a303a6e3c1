-- 0027_probe_kinds.sql (PostgreSQL) - what a probe sends; the same columns
-- as SQLite's 0027_probe_kinds.sql (read it for what they mean; a column
-- check may not name another column here, so the pairing is the table's).
-- The serving role already holds UPDATE on the whole probes table
-- (0005_probes.sql).
ALTER TABLE probes ADD COLUMN kind TEXT NOT NULL DEFAULT 'snapshot'
    CHECK (kind IN ('snapshot', 'log'));
ALTER TABLE probes ADD COLUMN template TEXT;
ALTER TABLE probes ADD CONSTRAINT probes_log_template CHECK ((kind = 'log') = (template IS NOT NULL));
