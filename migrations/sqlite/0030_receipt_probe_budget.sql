-- 0030_receipt_probe_budget.sql - what a grant's probes spent of its budget, in its
-- receipt (docs/audit-format.md, "Access receipts"): probe_bytes adds up the bytes of
-- probe.events.ingested (its data's bytes, 0 in entries written before it had them),
-- probe_budget_exhausted counts probe.budget_exhausted entries naming the grant (one per
-- member kind at most).  Counted from now on, as the log is appended; an export
-- recomputes both the same way.  audit_receipt.c owns the table.
ALTER TABLE audit_grant_usage ADD COLUMN probe_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_grant_usage ADD COLUMN probe_budget_exhausted INTEGER NOT NULL DEFAULT 0;
