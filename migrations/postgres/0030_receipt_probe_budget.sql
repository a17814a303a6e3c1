-- 0030_receipt_probe_budget.sql (PostgreSQL) - the same columns as SQLite's
-- 0030_receipt_probe_budget.sql (read it for what they mean).  The serving role holds
-- INSERT and UPDATE on the whole table (0020_grant_usage.sql).
ALTER TABLE audit_grant_usage ADD COLUMN probe_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_grant_usage ADD COLUMN probe_budget_exhausted BIGINT NOT NULL DEFAULT 0;
