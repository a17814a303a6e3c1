-- 0026_probe_args.sql (PostgreSQL) - a native probe's declared arguments; the
-- same column as SQLite's 0026_probe_args.sql (read it for what it means).
ALTER TABLE probes ADD COLUMN args TEXT;
