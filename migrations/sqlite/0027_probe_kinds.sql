-- 0027_probe_kinds.sql - what a probe sends (docs/agents.md, "Probe kinds").
--
-- kind: 'snapshot' (the captured args and return value, as before this
-- migration: every earlier probe is one) or 'log' (one message rendered by
-- the agent from template, and nothing else).  template: the log probe's
-- message template, NULL for a snapshot.
ALTER TABLE probes ADD COLUMN kind TEXT NOT NULL DEFAULT 'snapshot'
    CHECK (kind IN ('snapshot', 'log'));
ALTER TABLE probes ADD COLUMN template TEXT
    CHECK ((kind = 'log') = (template IS NOT NULL));
