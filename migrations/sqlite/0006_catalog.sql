-- 0006_catalog.sql - the service catalog, ingest keys, and probe events
-- (docs/agents.md).
--
-- services: the services jitgate knows, with the groups that own them.  A
-- removed service keeps its row (removed_at) so that audit entries and old
-- events still name something; adding it again clears removed_at.
--
-- ingest_keys: the bearer keys a service's agents present.  Only the SHA-256
-- of the key string ("jgk_" + base64url of 32 random bytes) is stored, so
-- reading the database gives no usable key.  A service has at most one
-- active (unrevoked) key; rotation revokes the old one in the same
-- transaction that adds the new one.
--
-- probe_events: what agents captured for a probe, one JSON object per row
-- (at most 16 kB each), in arrival order.

CREATE TABLE services (
    name       TEXT PRIMARY KEY,
    owners     TEXT NOT NULL,  -- JSON array of group names
    created_at INTEGER NOT NULL,
    removed_at INTEGER
) STRICT;

CREATE TABLE ingest_keys (
    id         TEXT PRIMARY KEY,
    service    TEXT NOT NULL REFERENCES services (name),
    sha256     BLOB NOT NULL UNIQUE CHECK (length(sha256) = 32),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE UNIQUE INDEX ingest_keys_active ON ingest_keys (service) WHERE revoked_at IS NULL;

CREATE TABLE probe_events (
    id          INTEGER PRIMARY KEY,
    probe_id    TEXT NOT NULL REFERENCES probes (id),
    service     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    event       TEXT NOT NULL  -- JSON object
) STRICT;

CREATE INDEX probe_events_probe ON probe_events (probe_id, id);
