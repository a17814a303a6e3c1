-- 0010_store_probe.sql - one row the audit writer rewrites to learn whether
-- the store takes writes again after a failed commit (disk full, read-only):
-- a durable write that changes a value, since SQLite skips an UPDATE that
-- leaves a row as it was.  Nothing else reads it.
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;

INSERT INTO store_probe (id, n) VALUES (1, 0);
