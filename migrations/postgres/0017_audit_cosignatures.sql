-- 0017_audit_cosignatures.sql (PostgreSQL) - witnesses' cosignatures of
-- checkpoints, as SQLite's 0017_audit_cosignatures.sql: one row per
-- (checkpoint, witness key), the witness's signature line as it sent it,
-- checked before it is stored.  Append-only by trigger and by privilege: the
-- serving role may only read and insert.

CREATE TABLE audit_cosignatures (
    size        BIGINT NOT NULL REFERENCES audit_checkpoints (size),
    witness     TEXT NOT NULL,
    key_id      BIGINT NOT NULL,
    line        TEXT NOT NULL,
    cosigned_at BIGINT NOT NULL,
    stored_at   BIGINT NOT NULL,
    PRIMARY KEY (size, witness, key_id)
);

CREATE TRIGGER audit_cosignatures_append_only BEFORE UPDATE OR DELETE ON audit_cosignatures
    FOR EACH ROW EXECUTE FUNCTION jg_append_only();
CREATE TRIGGER audit_cosignatures_no_truncate BEFORE TRUNCATE ON audit_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION jg_append_only();

GRANT SELECT, INSERT ON audit_cosignatures TO jitgate_serving;
