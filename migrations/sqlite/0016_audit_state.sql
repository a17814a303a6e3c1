-- 0016_audit_state.sql - the audit log's verified state: one row that says
-- how far the log has been verified, so `jitgate serve` verifies only the
-- entries after it at start (docs/audit-format.md, "The verified state").
-- audit_state.c owns this table.
--
-- Not an audit table: the row is rewritten at every checkpoint and when a
-- fault is found, so it has no append-only trigger.  It is authenticated by
-- its mac (HMAC-SHA-256 under the audit-state key, which the database does
-- not hold), not by privilege: a row whose mac does not verify stops the
-- next start (exit 5).
--
-- size, root, last_hash, frontier: the verified chain at a checkpointed
-- size (the tree of entries [0, size), its root, the leaf hash of entry
-- size - 1, the frontier as in audit_head).  fault_why: NULL, or why the
-- log stopped verifying; fault_seq: the entry at fault (NULL when no entry
-- is to blame, or when there is no fault).

CREATE TABLE audit_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    origin    TEXT NOT NULL,
    size      INTEGER NOT NULL CHECK (size >= 0),
    root      BLOB NOT NULL,
    last_hash BLOB NOT NULL,
    frontier  BLOB NOT NULL,
    fault_seq INTEGER CHECK (fault_seq >= 0),
    fault_why TEXT,
    mac       BLOB NOT NULL
);
