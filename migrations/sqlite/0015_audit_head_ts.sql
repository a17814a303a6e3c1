-- 0015_audit_head_ts.sql - the chain head remembers the newest entry's time,
-- and it only grows.
--
-- ts: the ts of the newest entry (Unix milliseconds; 0 for an empty log).
-- A writer gives each entry max(its own clock, the head's ts), read under
-- the write lock, so entry times never go backward whichever process (a
-- server, the command line, another replica on PostgreSQL) appends next.
-- Existing logs take the ts of their last entry (0 when it is not JSON:
-- such a log does not verify anyway, and jitgate says so).
--
-- audit_head_only_grows: the head may move forward only - a smaller size,
-- another last hash at the same size, an earlier ts or another id is
-- refused.  Like the other triggers this is defence in depth: integrity
-- rests on the hashes and signed checkpoints.

ALTER TABLE audit_head ADD COLUMN ts INTEGER NOT NULL DEFAULT 0;

UPDATE audit_head SET ts = coalesce((
    SELECT CASE WHEN json_valid(CAST(entry AS TEXT))
                THEN json_extract(CAST(entry AS TEXT), '$.ts') END
    FROM audit_log ORDER BY seq DESC LIMIT 1), 0)
WHERE id = 1;

CREATE TRIGGER audit_head_only_grows BEFORE UPDATE ON audit_head
WHEN NEW.id IS NOT OLD.id OR NEW.size < OLD.size
  OR (NEW.size = OLD.size AND NEW.last_hash IS NOT OLD.last_hash) OR NEW.ts < OLD.ts
BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END;
