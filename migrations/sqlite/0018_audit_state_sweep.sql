-- 0018_audit_state_sweep.sql - the rolling verifier's cursor in the verified
-- state (docs/audit-format.md §6.4): how far the background sweep that
-- re-verifies the whole log, slice by slice, has got, so that a restart
-- resumes the sweep instead of starting it over.  audit_state.c owns the
-- table.
--
-- sweep_seq: the entries [0, sweep_seq) re-verified in the current sweep;
-- sweep_last: the leaf hash of entry sweep_seq - 1 (zeros at 0);
-- sweep_frontier: the Merkle frontier of those entries (as audit_head's).
-- All three NULL (every row written before this migration): no cursor.  A
-- row with a cursor is MAC'd under the domain "jitgate audit-state v2", a
-- row without one as before (v1), so existing rows keep verifying: a
-- migration cannot recompute a MAC (the key is not in the database).

ALTER TABLE audit_state ADD COLUMN sweep_seq INTEGER CHECK (sweep_seq >= 0);
ALTER TABLE audit_state ADD COLUMN sweep_last BLOB;
ALTER TABLE audit_state ADD COLUMN sweep_frontier BLOB;
