-- 0001_init.sql - the first schema: a settings table recording facts about
-- this deployment (created_at, deployment id).  Later migrations add the
-- audit log, requests, grants and the rest.
CREATE TABLE deployment (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

INSERT INTO deployment (key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
