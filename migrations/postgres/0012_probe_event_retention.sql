-- 0012_probe_event_retention.sql (PostgreSQL) - captured probe events are
-- deleted by arrival time (as SQLite's 0012_probe_event_retention.sql).

CREATE INDEX probe_events_received ON probe_events (received_at);
