-- 0010_store_probe.sql (PostgreSQL) - one row the audit writer rewrites to
-- learn whether the store takes writes again after a failed commit; the
-- same table as SQLite's 0010_store_probe.sql.
CREATE TABLE store_probe (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);

INSERT INTO store_probe (id, n) VALUES (1, 0);

GRANT SELECT, UPDATE (n) ON store_probe TO jitgate_serving;
