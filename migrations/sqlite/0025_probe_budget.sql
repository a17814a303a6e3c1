-- 0025_probe_budget.sql - budgets carried by the grant (docs/policies.md,
-- "Probe budgets") and what each grant has spent of its own.
--
-- access_requests.probe_max_*: the decision's probe_budget, fixed when the
-- request is made (NULL: that member bounds nothing; every member NULL on a
-- request without deploy-probe or whose rules set no budget).  An extension
-- keeps its grant's budget.
--
-- probe_grant_usage: one row per grant that deployed a probe, owned by
-- probes.c: probes deployed (deleted ones included), events stored and the
-- bytes of their texts, over all the grant's probes.  Every deploy and every
-- batch of events reads and writes it in its own transaction (on PostgreSQL
-- locked FOR UPDATE before any probe row), so agents and replicas storing for
-- probes of one grant take turns on it.  probes_exhausted_at: set once,
-- when a deploy was first refused for max_probes; events_exhausted_at: set
-- once, when the grant's events budget (max_hits or max_bytes) was spent and
-- its probes disabled (each a probe.budget_exhausted entry, audit-format.md).
ALTER TABLE access_requests ADD COLUMN probe_max_probes INTEGER;
ALTER TABLE access_requests ADD COLUMN probe_max_hits INTEGER;
ALTER TABLE access_requests ADD COLUMN probe_max_bytes INTEGER;

CREATE TABLE probe_grant_usage (
    grant_id         TEXT PRIMARY KEY REFERENCES access_requests (id),
    probes           INTEGER NOT NULL DEFAULT 0,
    hits             INTEGER NOT NULL DEFAULT 0,
    bytes            INTEGER NOT NULL DEFAULT 0,
    probes_exhausted_at INTEGER,
    events_exhausted_at INTEGER
);
