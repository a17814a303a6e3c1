-- 0029_probe_install_drops.sql (PostgreSQL) - the same column as SQLite's
-- 0029_probe_install_drops.sql (read it for what it means).  The serving role
-- already holds INSERT and UPDATE on the whole table (0024_probe_installs.sql).
ALTER TABLE probe_installs ADD COLUMN dropped BIGINT NOT NULL DEFAULT 0 CHECK (dropped >= 0);
