-- 0015_audit_head_ts.sql (PostgreSQL) - the chain head remembers the newest
-- entry's time, and it only grows (as SQLite's 0015_audit_head_ts.sql).
--
-- ts: the ts of the newest entry (Unix milliseconds; 0 for an empty log; no
-- PostgreSQL database has entries before this migration, which arrives
-- with the engine).  Each batch locks the head row first and gives its entries max(its own
-- clock, the head's ts): entry times never go backward across replicas
-- whose clocks differ.
--
-- audit_head_only_grows: the head may move forward only - a smaller size,
-- another last hash at the same size, an earlier ts or another id is
-- refused, whoever updates it (the serving role may update size,
-- last_hash, frontier and ts only).

ALTER TABLE audit_head ADD COLUMN ts BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION jg_audit_head_only_grows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.size < OLD.size
       OR (NEW.size = OLD.size AND NEW.last_hash <> OLD.last_hash) OR NEW.ts < OLD.ts THEN
        RAISE EXCEPTION 'audit_head only moves forward' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_head_only_grows BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION jg_audit_head_only_grows();

GRANT UPDATE (ts) ON audit_head TO jitgate_serving;
