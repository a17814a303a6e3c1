-- 0001_init.sql (PostgreSQL) - the first schema: the role jitgate serves
-- with, and a settings table recording facts about this deployment.
--
-- Two roles (docs/operations.md, "PostgreSQL roles"): the role that runs
-- `jitgate migrate` (database.owner_url) owns every table; jitgate serves
-- as a login role that is a member of the group role jitgate_serving, to
-- which each migration grants exactly what serving needs.  The group role
-- is made here when it does not exist yet, which needs CREATEROLE; a DBA
-- may create it beforehand instead (CREATE ROLE jitgate_serving NOLOGIN)
-- and grant it to the serving login role (GRANT jitgate_serving TO ...).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'jitgate_serving') THEN
        CREATE ROLE jitgate_serving NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL; -- made meanwhile by a migration of another database of the cluster
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'the group role jitgate_serving does not exist and this role may not create it'
            USING HINT = 'run CREATE ROLE jitgate_serving NOLOGIN as a role with CREATEROLE, '
                         'or give the owner role CREATEROLE (docs/operations.md, PostgreSQL roles)';
END
$$;

-- serve checks that the schema is current with the serving role
GRANT SELECT ON schema_migrations TO jitgate_serving;

CREATE TABLE deployment (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO deployment (key, value)
VALUES ('created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));

GRANT SELECT ON deployment TO jitgate_serving;
