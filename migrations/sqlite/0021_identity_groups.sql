-- 0021_identity_groups.sql - the groups each person last authenticated with
-- (docs/identity.md, "Groups seen").  session.c owns the table.
--
-- One row per subject: the groups of the newest authentication seen - a
-- sign-in, or a bearer token verified for an API call - as a JSON array of
-- strings, and when (seen_at, Unix seconds).  A scheduled grant is
-- re-evaluated with these groups when its start comes (docs/api.md,
-- "Scheduled start"): someone who left a group after asking does not get
-- the access when the window opens.  Older authentications never replace a
-- newer row.

CREATE TABLE identity_groups (
    subject TEXT PRIMARY KEY,
    groups  TEXT NOT NULL,              -- JSON array of strings
    seen_at INTEGER NOT NULL
) STRICT;
