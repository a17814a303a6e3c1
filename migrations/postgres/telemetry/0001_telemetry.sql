-- telemetry/0001_telemetry.sql (PostgreSQL) - the debug data plane's tables
-- (docs/dataplane.md): log records, spans and metric data points ingested by
-- services' agents, as SQLite's telemetry/0001_telemetry.sql, in a database
-- of their own or beside the state tables (this set records its files in
-- telemetry_schema_migrations).  Every row carries the service whose ingest
-- key stored it and received_at (Unix seconds), which retention is measured
-- from.
--
-- Retention by partitions: each table is partitioned by range of
-- received_at, one partition per UTC day (logs_20261125 holds what arrived on
-- 2026-11-25), and the retention job drops a day's partition whole once all
-- of it is past the kind's retention; readers never show a row past it
-- meanwhile.  Partitions are made ahead by this migration and by the
-- retention job, and by ingest when a row finds none.  The serving role may
-- neither create nor drop tables: two SECURITY DEFINER functions, owned by
-- the role that runs `jitgate migrate`, do exactly that and nothing else.
--
-- Search: no FTS5 here.  Each log row holds two tsvectors written by
-- jitgate, search over the text as sent and search_redacted over the same
-- text after redaction, made of the tokens of SQLite FTS5's unicode61
-- tokenizer (tokenize.h) with their positions, so a search finds the same
-- records as on SQLite (docs/dataplane.md, Search).  Text columns compare
-- byte by byte (COLLATE "C"), as SQLite's do, so every ORDER BY sorts alike.
--
-- Roles (docs/operations.md, PostgreSQL roles): the group role
-- jitgate_serving is made here when it does not exist yet (a telemetry
-- database on another cluster than the state database's), as by the state
-- migrations' 0001_init.sql.
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
GRANT SELECT ON telemetry_schema_migrations TO jitgate_serving;

-- logs: one record per row.  record is the whole structured record as JSON
-- (body, attributes, resource, scope) exactly as the reader sees it before
-- redaction.
CREATE TABLE logs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    service         TEXT COLLATE "C" NOT NULL,
    time_ns         BIGINT NOT NULL,
    severity_number BIGINT NOT NULL,
    level           TEXT COLLATE "C" NOT NULL,   -- trace | debug | info | warn | error | fatal | unset
    trace_id        TEXT COLLATE "C",
    span_id         TEXT COLLATE "C",
    record          TEXT NOT NULL,               -- JSON object
    received_at     BIGINT NOT NULL,
    search          TSVECTOR NOT NULL,           -- the text as sent
    search_redacted TSVECTOR NOT NULL            -- the text as a reader without read-pii sees it
) PARTITION BY RANGE (received_at);

CREATE INDEX logs_service_time ON logs (service, time_ns DESC, id DESC);
CREATE INDEX logs_service_trace ON logs (service, trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_search ON logs USING gin (search);
CREATE INDEX logs_search_redacted ON logs USING gin (search_redacted);

-- spans: one OTLP span per row in the shape trace_analysis.h takes.  A
-- service's key stores only its own spans; (service, trace_id, span_id)
-- holds one span: a unique key cannot span partitions, so ingest looks
-- first, under a transaction advisory lock on (service, trace_id), and a
-- resent span changes nothing.
CREATE TABLE spans (
    service         TEXT COLLATE "C" NOT NULL,
    trace_id        TEXT COLLATE "C" NOT NULL,
    span_id         TEXT COLLATE "C" NOT NULL,
    parent_span_id  TEXT COLLATE "C",
    start_ns        BIGINT NOT NULL,
    end_ns          BIGINT NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,   -- ok | error | unset
    span            TEXT NOT NULL,               -- JSON object (trace_analysis.h)
    received_at     BIGINT NOT NULL
) PARTITION BY RANGE (received_at);

CREATE INDEX spans_key ON spans (service, trace_id, span_id);
CREATE INDEX spans_trace ON spans (trace_id, start_ns);
CREATE INDEX spans_service_start ON spans (service, start_ns);

-- metric_points: one data point of a gauge, a sum or a histogram per row.
-- series is the point's attributes as canonical JSON (sorted keys), so
-- points of one series group together.
CREATE TABLE metric_points (
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    service         TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL CHECK (kind IN ('gauge', 'sum', 'histogram')),
    unit            TEXT COLLATE "C" NOT NULL,
    description     TEXT COLLATE "C" NOT NULL,
    temporality     TEXT COLLATE "C" NOT NULL,   -- cumulative | delta | unspecified
    monotonic       BIGINT NOT NULL CHECK (monotonic IN (0, 1)),
    series          TEXT COLLATE "C" NOT NULL,   -- JSON object of the point's attributes
    start_ns        BIGINT NOT NULL,
    time_ns         BIGINT NOT NULL,
    value           DOUBLE PRECISION,            -- gauge and sum
    histogram       TEXT,                        -- {count, sum, min, max, bounds, counts}
    received_at     BIGINT NOT NULL
) PARTITION BY RANGE (received_at);

CREATE INDEX metric_points_lookup ON metric_points (service, name, time_ns);

-- jitgate_telemetry_partitions(at, days): the partitions of the UTC day of
-- Unix second `at` and of the days - 1 days after it, for each table, made
-- where missing; returns how many were made.  A partition is made as a
-- table of its own and then attached, which locks the parent only against
-- other schema changes (SHARE UPDATE EXCLUSIVE), not against ingest and
-- reads.  Two replicas making the same partition at once: one makes it,
-- the other finds it made.
CREATE FUNCTION jitgate_telemetry_partitions(at_s BIGINT, days INTEGER) RETURNS INTEGER
    LANGUAGE plpgsql SECURITY DEFINER SET lock_timeout = '2s' AS $$
DECLARE
    made INTEGER := 0;
    first_day INTEGER;
    d INTEGER;
    parent TEXT;
    part TEXT;
BEGIN
    IF at_s IS NULL OR at_s < 0 OR at_s > 253402214399 OR days IS NULL OR days < 1 OR days > 31 THEN
        RAISE EXCEPTION 'jitgate_telemetry_partitions: a time from 0 to 253402214399 and 1 to 31 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    first_day := (at_s / 86400)::INTEGER;
    FOR d IN first_day .. first_day + days - 1 LOOP
        FOREACH parent IN ARRAY ARRAY['logs', 'spans', 'metric_points'] LOOP
            part := parent || '_' || to_char(to_timestamp(d::BIGINT * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD');
            CONTINUE WHEN to_regclass(format('%I.%I', current_schema(), part)) IS NOT NULL;
            BEGIN
                EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                               current_schema(), part, current_schema(), parent);
                EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%s) TO (%s)',
                               current_schema(), parent, current_schema(), part,
                               d::BIGINT * 86400, (d::BIGINT + 1) * 86400);
                made := made + 1;
            EXCEPTION
                WHEN duplicate_table OR unique_violation THEN
                    NULL; -- made meanwhile by another replica
            END;
        END LOOP;
    END LOOP;
    RETURN made;
END
$$;

-- jitgate_telemetry_drop(parent, before): drops the partitions of parent
-- (logs, spans or metric_points) that hold nothing received at or after
-- `before` - and never one that may still receive rows: `before` is capped
-- at the transaction's own clock, so the serving role can drop only days
-- that are over.  One row per partition dropped, with the rows it held as
-- the statistics counted them.  Dropping a partition locks the parent
-- exclusively for a moment: after lock_timeout the call fails and the
-- retention job tries again at its next tick.
CREATE FUNCTION jitgate_telemetry_drop(parent TEXT, before_s BIGINT)
    RETURNS TABLE (partition_name TEXT, approx_rows BIGINT)
    LANGUAGE plpgsql SECURITY DEFINER SET lock_timeout = '500ms' AS $$
DECLARE
    p RECORD;
    upper_s BIGINT;
    limit_s BIGINT;
BEGIN
    IF parent IS NULL OR parent NOT IN ('logs', 'spans', 'metric_points') OR before_s IS NULL THEN
        RAISE EXCEPTION 'jitgate_telemetry_drop: logs, spans or metric_points, and a time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    limit_s := LEAST(before_s, floor(extract(epoch FROM now()))::BIGINT);
    FOR p IN SELECT c.oid, c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = to_regclass(format('%I.%I', current_schema(), parent))
              ORDER BY c.relname
    LOOP
        upper_s := (regexp_match(p.bound, 'TO \(''?(-?[0-9]+)''?\)'))[1]::BIGINT;
        CONTINUE WHEN upper_s IS NULL OR upper_s > limit_s;
        partition_name := p.relname;
        approx_rows := COALESCE((SELECT s.n_live_tup FROM pg_stat_user_tables s WHERE s.relid = p.oid), 0);
        EXECUTE format('DROP TABLE %I.%I', current_schema(), p.relname);
        RETURN NEXT;
    END LOOP;
END
$$;

-- Both run with this schema first and pg_temp last, never the caller's
-- search_path, so no object the caller made can stand in for a table here.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION jitgate_telemetry_partitions(BIGINT, INTEGER) SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION jitgate_telemetry_drop(TEXT, BIGINT) SET search_path = %I, pg_temp',
                   current_schema());
END
$$;

REVOKE ALL ON FUNCTION jitgate_telemetry_partitions(BIGINT, INTEGER) FROM PUBLIC;
REVOKE ALL ON FUNCTION jitgate_telemetry_drop(TEXT, BIGINT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jitgate_telemetry_partitions(BIGINT, INTEGER) TO jitgate_serving;
GRANT EXECUTE ON FUNCTION jitgate_telemetry_drop(TEXT, BIGINT) TO jitgate_serving;

-- serving: read and append; rows leave only with their partition
GRANT SELECT, INSERT ON logs, spans, metric_points TO jitgate_serving;

-- today's partitions and the next two days'
SELECT jitgate_telemetry_partitions(floor(extract(epoch FROM now()))::BIGINT, 3);
