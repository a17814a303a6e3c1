-- 0018_audit_state_sweep.sql (PostgreSQL) - the rolling verifier's cursor
-- in the verified state; the same columns as SQLite's
-- 0018_audit_state_sweep.sql (read it for what they mean).  audit_state.c
-- owns the table.  The serving role's table-wide UPDATE and INSERT (0016)
-- cover the new columns: the leader of "audit-verifier" writes them.

ALTER TABLE audit_state ADD COLUMN sweep_seq BIGINT CHECK (sweep_seq >= 0);
ALTER TABLE audit_state ADD COLUMN sweep_last BYTEA;
ALTER TABLE audit_state ADD COLUMN sweep_frontier BYTEA;
