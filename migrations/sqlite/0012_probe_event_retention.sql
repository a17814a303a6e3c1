-- 0012_probe_event_retention.sql - captured probe events are kept for
-- probes.event_retention_seconds after they arrive (default 7 days); the
-- sweeper deletes older ones in small batches by arrival time.

CREATE INDEX probe_events_received ON probe_events (received_at);
