-- telemetry/0001_telemetry.sql - the debug data plane's own database
-- (docs/dataplane.md): log records, spans and metric data points ingested by
-- services' agents.  It is a separate SQLite file from the state database
-- and the audit log, so its volume and its retention deletes never slow
-- them.  Every row carries the service whose ingest key stored it and
-- received_at (Unix seconds), which retention is measured from.
--
-- logs: one record per row.  record is the whole structured record as JSON
-- (body, attributes, resource, scope) exactly as the reader sees it before
-- redaction.  Full-text search uses two FTS5 tables with the row's id as
-- rowid: logs_fts over the text as sent, logs_fts_redacted over the same
-- text after redaction, so a reader without read-pii searches only what it
-- may see (a query for an e-mail address finds nothing).

CREATE TABLE logs (
    id              INTEGER PRIMARY KEY,
    service         TEXT NOT NULL,
    time_ns         INTEGER NOT NULL,
    severity_number INTEGER NOT NULL,
    level           TEXT NOT NULL,   -- trace | debug | info | warn | error | fatal | unset
    trace_id        TEXT,
    span_id         TEXT,
    record          TEXT NOT NULL,   -- JSON object
    received_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX logs_service_time ON logs (service, time_ns DESC, id DESC);
CREATE INDEX logs_service_trace ON logs (service, trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_received ON logs (received_at);

CREATE VIRTUAL TABLE logs_fts USING fts5 (text);
CREATE VIRTUAL TABLE logs_fts_redacted USING fts5 (text);

-- spans: one OTLP span per row in the shape trace_analysis.h takes.  A
-- service's key stores only its own spans; (service, trace_id, span_id) is
-- unique so a resent batch changes nothing and no service can shadow
-- another's span.
CREATE TABLE spans (
    service         TEXT NOT NULL,
    trace_id        TEXT NOT NULL,
    span_id         TEXT NOT NULL,
    parent_span_id  TEXT,
    start_ns        INTEGER NOT NULL,
    end_ns          INTEGER NOT NULL,
    status          TEXT NOT NULL,   -- ok | error | unset
    span            TEXT NOT NULL,   -- JSON object (trace_analysis.h)
    received_at     INTEGER NOT NULL,
    PRIMARY KEY (service, trace_id, span_id)
) STRICT;

CREATE INDEX spans_trace ON spans (trace_id);
CREATE INDEX spans_service_start ON spans (service, start_ns);
CREATE INDEX spans_received ON spans (received_at);

-- metric_points: one data point of a gauge, a sum or a histogram per row.
-- series is the point's attributes as canonical JSON (sorted keys), so
-- points of one series group together.
CREATE TABLE metric_points (
    id              INTEGER PRIMARY KEY,
    service         TEXT NOT NULL,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('gauge', 'sum', 'histogram')),
    unit            TEXT NOT NULL,
    description     TEXT NOT NULL,
    temporality     TEXT NOT NULL,   -- cumulative | delta | unspecified (gauges: unspecified)
    monotonic       INTEGER NOT NULL CHECK (monotonic IN (0, 1)),
    series          TEXT NOT NULL,   -- JSON object of the point's attributes
    start_ns        INTEGER NOT NULL,
    time_ns         INTEGER NOT NULL,
    value           REAL,            -- gauge and sum
    histogram       TEXT,            -- {count, sum, min, max, bounds, counts}
    received_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX metric_points_lookup ON metric_points (service, name, time_ns);
CREATE INDEX metric_points_received ON metric_points (received_at);
