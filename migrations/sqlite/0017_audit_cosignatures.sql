-- 0017_audit_cosignatures.sql - witnesses' cosignatures of checkpoints (docs/witness.md).
--
-- A checkpoint row never changes (audit_checkpoints is append-only), so what
-- witnesses say of it lives here: one row per (checkpoint, witness key), the
-- signature line exactly as the witness sent it (C2SP tlog-cosignature v1,
-- key type 0x04), checked against the configured witness key before it is
-- stored.  Append-only like the log: a cosignature is evidence.

CREATE TABLE audit_cosignatures (
    size        INTEGER NOT NULL REFERENCES audit_checkpoints (size),
    witness     TEXT NOT NULL,
    key_id      INTEGER NOT NULL,
    line        TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL,
    stored_at   INTEGER NOT NULL,
    PRIMARY KEY (size, witness, key_id)
) STRICT;

CREATE TRIGGER audit_cosignatures_no_update BEFORE UPDATE ON audit_cosignatures
BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only'); END;
CREATE TRIGGER audit_cosignatures_no_delete BEFORE DELETE ON audit_cosignatures
BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only'); END;
