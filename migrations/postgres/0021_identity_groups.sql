-- 0021_identity_groups.sql (PostgreSQL) - the groups each person last
-- authenticated with; the same table as SQLite's 0021_identity_groups.sql
-- (read it for what it means).  session.c owns the table.

CREATE TABLE identity_groups (
    subject TEXT PRIMARY KEY,
    groups  TEXT NOT NULL, -- JSON array of strings
    seen_at BIGINT NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON identity_groups TO jitgate_serving;
