-- 0026_probe_args.sql - a native probe's declared arguments (docs/agents.md,
-- "jitgate-probe"): the deploy's "args", [{index, name, type}] as compact
-- JSON, listed to agents; NULL for a probe that declared none (every probe
-- before this migration), which is listed without "args" as before.
ALTER TABLE probes ADD COLUMN args TEXT;
