-- 0002_audit.sql - the tamper-evident audit log (docs/audit-format.md).
--
-- audit_log holds each entry's exact canonical bytes; seq is the entry's
-- leaf index in the Merkle tree, from 0.  audit_nodes holds every perfect
-- subtree of two or more leaves once it is complete (level 0, the leaf
-- hashes, is recomputed from the entries), so proofs cost O(log n) reads.
-- audit_head is the chain head, read and advanced inside each writing
-- transaction.  Entries, nodes and checkpoints are append-only: triggers
-- refuse UPDATE and DELETE.  Integrity never rests on these triggers
-- (anyone with the file can drop them); it rests on the hashes and signed
-- checkpoints, which jitgate verifies.

CREATE TABLE audit_log (
    seq   INTEGER PRIMARY KEY CHECK (seq >= 0),
    entry BLOB NOT NULL
) STRICT;

CREATE TABLE audit_nodes (
    level INTEGER NOT NULL CHECK (level >= 1),
    idx   INTEGER NOT NULL CHECK (idx >= 0),
    hash  BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    size      INTEGER NOT NULL,
    last_hash BLOB NOT NULL CHECK (length(last_hash) = 32),
    frontier  BLOB NOT NULL
) STRICT;

INSERT INTO audit_head (id, size, last_hash, frontier)
VALUES (1, 0, zeroblob(32), zeroblob(8));

CREATE TABLE audit_checkpoints (
    size       INTEGER PRIMARY KEY,
    note       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Which checkpoints reached which off-host sink (retried until they do).
CREATE TABLE audit_checkpoint_pushes (
    size      INTEGER NOT NULL REFERENCES audit_checkpoints (size),
    sink      TEXT NOT NULL,
    pushed_at INTEGER NOT NULL,
    PRIMARY KEY (size, sink)
) STRICT;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END;
