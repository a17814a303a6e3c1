-- 0016_audit_state.sql (PostgreSQL) - the audit log's verified state; the
-- same table as SQLite's 0016_audit_state.sql (read it for the columns).
-- audit_state.c owns this table.
--
-- Not an audit table: the serving role reads, inserts and updates the one
-- row (every replica writes it at its checkpoints and when it finds a
-- fault).  It may not delete it: removing the row (which forces a full
-- verification at the next start) is the owner's, an operator's decision
-- (docs/operations.md, "A stored audit fault").

CREATE TABLE audit_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    origin    TEXT NOT NULL,
    size      BIGINT NOT NULL CHECK (size >= 0),
    root      BYTEA NOT NULL,
    last_hash BYTEA NOT NULL,
    frontier  BYTEA NOT NULL,
    fault_seq BIGINT CHECK (fault_seq >= 0),
    fault_why TEXT,
    mac       BYTEA NOT NULL
);

GRANT SELECT, INSERT, UPDATE ON audit_state TO jitgate_serving;
