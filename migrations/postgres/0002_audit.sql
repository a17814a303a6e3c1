-- 0002_audit.sql (PostgreSQL) - the tamper-evident audit log
-- (docs/audit-format.md, §6).  The same tables as SQLite's 0002_audit.sql.
--
-- audit_log holds each entry's exact canonical bytes; seq is the entry's
-- leaf index in the Merkle tree, from 0.  audit_nodes holds every perfect
-- subtree of two or more leaves once it is complete.  audit_head is the
-- chain head, locked (SELECT ... FOR UPDATE) and advanced inside each
-- writing transaction.
--
-- Append-only by privilege: the serving role (jitgate_serving) may SELECT
-- and INSERT entries, nodes and checkpoints, never UPDATE, DELETE or
-- TRUNCATE them; of audit_head it may update only the moving columns, and a
-- trigger (0015) refuses a head that shrinks.  Triggers refuse UPDATE,
-- DELETE and TRUNCATE for every role as well (defence in depth: the owner
-- and a superuser can drop them).  Integrity never rests on either: it
-- rests on the hashes and signed checkpoints, which jitgate verifies.

CREATE TABLE audit_log (
    seq   BIGINT PRIMARY KEY CHECK (seq >= 0),
    entry BYTEA NOT NULL
);

CREATE TABLE audit_nodes (
    level BIGINT NOT NULL CHECK (level >= 1),
    idx   BIGINT NOT NULL CHECK (idx >= 0),
    hash  BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

CREATE TABLE audit_head (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    size      BIGINT NOT NULL,
    last_hash BYTEA NOT NULL CHECK (length(last_hash) = 32),
    frontier  BYTEA NOT NULL
);

INSERT INTO audit_head (id, size, last_hash, frontier)
VALUES (1, 0, decode(repeat('00', 32), 'hex'), decode(repeat('00', 8), 'hex'));

CREATE TABLE audit_checkpoints (
    size       BIGINT PRIMARY KEY,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which checkpoints reached which off-host sink (retried until they do).
CREATE TABLE audit_checkpoint_pushes (
    size      BIGINT NOT NULL REFERENCES audit_checkpoints (size),
    sink      TEXT NOT NULL,
    pushed_at BIGINT NOT NULL,
    PRIMARY KEY (size, sink)
);

CREATE FUNCTION jg_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION jg_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION jg_append_only();
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
    FOR EACH ROW EXECUTE FUNCTION jg_append_only();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION jg_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION jg_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION jg_append_only();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION jg_append_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION jg_append_only();

GRANT SELECT, INSERT ON audit_log, audit_nodes, audit_checkpoints TO jitgate_serving;
GRANT SELECT, UPDATE (size, last_hash, frontier) ON audit_head TO jitgate_serving;
GRANT SELECT, INSERT ON audit_checkpoint_pushes TO jitgate_serving;
