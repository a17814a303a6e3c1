/*
 * telemetry.h - the debug data plane's database: logs, spans, metric points.
 *
 * A database of its own (telemetry.database): a SQLite file (default
 * telemetry.db beside a SQLite state database) or a PostgreSQL database -
 * another one or the state database itself - opened with the store layer
 * (store.h), with its own forward-only migrations in
 * <migrations_dir>/<engine>/telemetry/.  Ingest stores a converted batch
 * (otlp.h) in one transaction: all of it or nothing.
 *
 * Retention is per kind, measured from when jitgate received a row: readers
 * never show a row past it (each query takes received_since), and a
 * retention job removes such rows - on SQLite by deleting them in bounded
 * chunks so ingest never waits long for the write lock, on PostgreSQL by
 * dropping whole daily partitions once every row in them is past it
 * (docs/dataplane.md, Retention).
 *
 * Redaction for readers without read-pii also lives here, so logs and spans
 * are redacted by the same rules (redact.h plus the configured sensitive
 * field names): the full-text index of logs is kept twice, as sent and as
 * redacted, and a reader without read-pii searches only the redacted one.
 * Search means the same on both engines (docs/dataplane.md, Search).
 *
 * Thread-safe: state lives in the database; the sweeper is one thread.
 */
#ifndef JITGATE_TELEMETRY_H
#define JITGATE_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/config.h"
#include "jitgate/cursor.h"
#include "jitgate/store.h"

struct jg_telemetry_sweeper;

/* The SQLite telemetry migrations directory of cfg (bench: raw SQLite; caller frees), or NULL. */
char *jg_telemetry_migrations_dir(const struct jg_config *cfg);

/*
 * The tables this module keeps in its database, its bookkeeping included
 * (NULL-terminated).  When telemetry shares the state database, `jitgate
 * store copy` finds them there and leaves them behind: telemetry is not
 * copied (docs/operations.md, "Moving from SQLite to PostgreSQL").
 */
extern const char *const jg_telemetry_tables[];

/*
 * Opens the telemetry database of cfg and checks its schema is current.
 * Returns 0, or JG_ESTORE / JG_ECONFLICT with err filled (pending or
 * changed migrations: run `jitgate migrate`).
 */
int jg_telemetry_open(const struct jg_config *cfg, struct jg_store **out, char *err, size_t errlen);

/* Applies the telemetry migrations (creating the file); *applied may be NULL. */
int jg_telemetry_migrate(const struct jg_config *cfg, int *applied, char *err, size_t errlen);

/*
 * Stores converted records (otlp.h) of service in one transaction.  fields
 * is the NULL-terminated list of sensitive keys used to build the redacted
 * search index of logs.  Returns 0, JG_ESTORE (nothing stored) or
 * JG_ENOMEM.
 */
int jg_telemetry_store_logs(struct jg_store *db, const char *service, json_t *records,
			    char *const *fields, int64_t now);
int jg_telemetry_store_spans(struct jg_store *db, const char *service, json_t *spans, int64_t now);
int jg_telemetry_store_metrics(struct jg_store *db, const char *service, json_t *points,
			       int64_t now);

/* The kinds of telemetry, each with its retention (telemetry.*_retention_seconds). */
enum jg_telemetry_kind { JG_TELEMETRY_LOGS, JG_TELEMETRY_TRACES, JG_TELEMETRY_METRICS };

/*
 * The receipt time (Unix seconds, the clock ingest stamps received_at with)
 * from which kind's rows are within their retention at now: what the
 * readers' received_since takes.
 */
int64_t jg_telemetry_received_since(const struct jg_config *cfg, enum jg_telemetry_kind kind,
				    int64_t now);

/*
 * Removes what is past its kind's retention at now (received before now
 * minus the retention).  SQLite: deletes those rows, in chunks.
 * PostgreSQL: first makes the partitions of today and the next two days
 * where missing, then drops each day's partition received wholly before the
 * cutoff (never one of a day not yet over); rows of a partly expired day
 * stay until their day's partition goes, hidden from readers meanwhile.
 * *deleted (may be NULL) gets the rows removed (PostgreSQL: as the server's
 * statistics counted the partitions dropped).
 */
int jg_telemetry_sweep(struct jg_store *db, const struct jg_config *cfg, int64_t now,
		       int64_t *deleted);

/*
 * Starts a thread (thread.h) running jg_telemetry_sweep every second with
 * now = the wall clock's seconds: the clock ingest stamps received_at with,
 * so retention counts from receipt on one clock.  Stop (and free) with _stop.
 */
int jg_telemetry_sweeper_start(struct jg_store *db, const struct jg_config *cfg,
			       struct jg_telemetry_sweeper **out);
void jg_telemetry_sweeper_stop(struct jg_telemetry_sweeper *sw);

/*
 * The full-text search text of a log record: its body and its attributes
 * ("key value ...").  With fields != NULL, of the record as redacted for a
 * reader without read-pii.  A new string (caller frees), or NULL.
 */
char *jg_telemetry_log_text(json_t *record, char *const *fields);

/*
 * Redacts, in place, what a reader without read-pii must not see of a log
 * record (body, attributes, resource attributes) or a span (name, error,
 * attributes, events' names and attributes); ids, times, levels and status
 * are left alone (a 19-digit timestamp is not a card number).  Returns 0 or
 * a JG_E* code, in which case the value may be half redacted and must not
 * be shown.
 */
int jg_telemetry_redact_log(json_t *record, char *const *fields);
int jg_telemetry_redact_span(json_t *span, char *const *fields);

/*
 * Parses a query time: Unix seconds ("1764064800"), RFC 3339 text, or a
 * duration before now ("15m", "2h", "7d", "30s").  *ns gets Unix
 * nanoseconds.  Returns 0 or JG_EINVAL.
 */
int jg_telemetry_parse_time(const char *s, int64_t now, int64_t *ns);

#define JG_TELEMETRY_TIME_TEXT 40

/* Unix ns as RFC 3339 UTC with nanoseconds ("2026-11-25T10:00:00.123456789Z"). */
void jg_telemetry_time_text(int64_t ns, char out[JG_TELEMETRY_TIME_TEXT]);

/* Unix ns as a new JSON decimal string (OTLP JSON style: exact in every JSON reader). */
json_t *jg_telemetry_ns_string(int64_t ns);

/* Parses a duration "250ms", "2s", "5m", "1h", "1d" or plain milliseconds into nanoseconds. */
int jg_telemetry_parse_duration(const char *s, int64_t *ns);

/* ---- readers (the guarded endpoints; docs/dataplane.md) -------------------------------- */

/*
 * Every reader takes the telemetry database (NULL when there is none: then
 * JG_EUNAVAIL) and returns a new JSON array (the caller decrefs) of what the
 * reader is shown, redacted when asked (a reader without read-pii): 0,
 * JG_EUNAVAIL (no database, no connection), JG_ESTORE (it could not be
 * read), or a code named below.
 */

#define JG_TELEMETRY_LOGS_MAX	 1000		   /* records per page */
#define JG_TELEMETRY_Q_MAX_BYTES 256		   /* bytes of a search */
#define JG_TELEMETRY_Q_MAX_TERMS 16		   /* words of a search */
#define JG_TELEMETRY_CURSOR_MAX	 JG_CURSOR_MAX_LEN /* a logs cursor with its NUL */

/* A position in the logs, newest first: (time, id) descending. */
struct jg_telemetry_logs_pos {
	int64_t time_ns;
	int64_t id;
};

struct jg_telemetry_logs_query {
	const char *service;
	int64_t since, until; /* Unix ns: since <= time < until */
	int floor_severity;   /* the lowest severity number shown (0: all) */
	const char *trace_id; /* 32 lower-case hex digits, or NULL */
	const char *q;	      /* words that must all occur (jg_telemetry_search_valid) */
	struct jg_telemetry_logs_pos after; /* records before it; {INT64_MAX, INT64_MAX}: newest */
	int64_t received_since;		    /* Unix s: records received earlier are not shown */
	size_t limit;			    /* 1..JG_TELEMETRY_LOGS_MAX */
	bool redact;			    /* for a reader without read-pii */
	char *const *fields;		    /* sensitive field names (redaction.sensitive_fields) */
	/* seal next_cursor as a "logs" cursor (cursor.h); NULL: no next_cursor is made */
	const struct jg_cursor_keys *cursor_keys;
};

/*
 * True when q is a search the logs reader takes: 1 to Q_MAX_TERMS words of
 * UTF-8 with a letter or digit each, at most Q_MAX_BYTES.  No search
 * syntax is exposed: every word is matched as a phrase.
 */
bool jg_telemetry_search_valid(const char *q);

/*
 * Reads a cursor a page returned (next_cursor): a "logs" cursor sealed by
 * one of keys (cursor.h).  0 or JG_EINVAL.
 */
int jg_telemetry_logs_cursor_parse(const struct jg_cursor_keys *keys, const char *cursor,
				   struct jg_telemetry_logs_pos *pos)
    __attribute__((warn_unused_result));

/*
 * A page of log records of q->service, newest first: *logs, and in
 * next_cursor the cursor of the next page when this one is full (else "").
 * A reader that redacts searches the redacted index and sees every record
 * redacted (a record that cannot be redacted is shown withheld).
 * JG_EINVAL for a limit or search out of range.
 */
int jg_telemetry_logs_query(struct jg_store *db, const struct jg_telemetry_logs_query *q,
			    json_t **logs, char next_cursor[JG_TELEMETRY_CURSOR_MAX]);

/*
 * Every span of trace trace_id (lower-case hex) received since
 * received_since when one of them is of service, in start order (at most
 * JG_TRACE_MAX_SPANS + 1: the analysis refuses more), redacted when asked,
 * instance names included.
 * JG_ENOTFOUND: no span of service.  Any code but those listed above:
 * the spans could not be redacted (nothing is returned).
 */
int jg_telemetry_trace(struct jg_store *db, const char *service, const char *trace_id,
		       int64_t received_since, bool redact, char *const *fields, json_t **spans);

#define JG_TELEMETRY_ATTR_MAX	    4	   /* attribute filters per search */
#define JG_TELEMETRY_ATTR_KEY_MAX   256	   /* bytes of a filter's key (as ingest caps keys) */
#define JG_TELEMETRY_ATTR_VALUE_MAX 1024   /* bytes of a filter's value */
#define JG_TELEMETRY_ATTR_SCAN	    100000 /* spans of the service a filtered search examines */

/* One attribute filter: a span attribute key whose value is exactly the string value. */
struct jg_telemetry_attr {
	const char *key;   /* 1 to JG_TELEMETRY_ATTR_KEY_MAX bytes of UTF-8, no NUL */
	const char *value; /* 0 to JG_TELEMETRY_ATTR_VALUE_MAX bytes of UTF-8, no NUL */
};

struct jg_telemetry_traces_query {
	const char *service;
	int64_t since, until;	 /* a span of service started in [since, until) (Unix ns) */
	bool errors_only;	 /* traces with an error span */
	int64_t min_duration_ns; /* traces at least this long */
	int64_t max_duration_ns; /* traces at most this long; 0: no bound */
	int64_t received_since;	 /* Unix s: spans received earlier are not counted */
	size_t limit;		 /* traces, newest first */
	bool redact;		 /* root span names redacted */
	/*
	 * Attribute filters, all of which must match: for each, one of the
	 * trace's spans of service that started in the window has the key
	 * among its own attributes (not its events' nor its resource's) with
	 * exactly that string as its value (byte for byte; a number, boolean,
	 * array or map never matches).  Spans of other services are not
	 * searched: their attributes are withheld from this reader.
	 */
	const struct jg_telemetry_attr *attrs;
	size_t nattrs;	 /* 0 to JG_TELEMETRY_ATTR_MAX */
	size_t scan_max; /* with filters: spans examined at most; 0: JG_TELEMETRY_ATTR_SCAN */
};

/*
 * The traces with spans of q->service that started in the window, newest
 * first: {trace_id, start, start_unix_nano, duration_ms, spans, errors,
 * services, root_service, root_name}.
 *
 * With attribute filters the scan is bounded: when more than q->scan_max
 * spans of the service started in the window, the window is narrowed to
 * its newest part - since becomes the start of the scan_max-th newest span
 * (spans that started at that same nanosecond are all searched) - and
 * *searched_since (may be NULL) gets that start; else it gets -1.  The
 * whole search then runs on the narrowed window, in the same read
 * transaction.  Returns 0, JG_EUNAVAIL, JG_ESTORE, JG_EINVAL (more than
 * JG_TELEMETRY_ATTR_MAX filters, or a NULL key or value) or JG_ENOMEM.
 */
int jg_telemetry_traces_search(struct jg_store *db, const struct jg_telemetry_traces_query *q,
			       json_t **traces, int64_t *searched_since);

/*
 * The metrics service has points of in [since, until), received since
 * received_since: {name, kind, unit, description, points, last}, by name and
 * kind (at most 1000); unit and description are those of the newest point.
 */
int jg_telemetry_metric_names(struct jg_store *db, const char *service, int64_t since,
			      int64_t until, int64_t received_since, json_t **metrics);

#define JG_TELEMETRY_METRIC_POINTS_MAX 100000 /* points read per call */

struct jg_telemetry_metrics_query {
	const char *service;
	const char *name;	/* the metric */
	int64_t since, until;	/* Unix ns */
	int64_t step_ns;	/* 0: every point; else step-aligned windows */
	int64_t received_since; /* Unix s: points received earlier are not shown */
	bool redact;		/* series attributes redacted */
	char *const *fields;	/* sensitive field names */
};

/*
 * One metric's series per kind: [{name, kind, unit, description,
 * temporality, monotonic, series: [{attributes, points: [...]}]}]; gauges and
 * sums as {time, time_unix_nano, value}, histograms as {time,
 * time_unix_nano, count, sum, min, max, buckets}.  With step_ns, one point
 * per window: the last, or the total for delta temporality.  JG_ETOOBIG
 * past JG_TELEMETRY_METRIC_POINTS_MAX points.
 */
int jg_telemetry_metric_series(struct jg_store *db, const struct jg_telemetry_metrics_query *q,
			       json_t **metrics);

/* One stored point of a delta series, for jg_telemetry_fold_delta. */
struct jg_telemetry_point {
	int64_t time_ns;
	double value; /* a sum's */
	json_t *hist; /* a histogram's {count, sum, min, max, bounds, counts} (borrowed) */
};

/*
 * The points of one delta series (sums or histograms), in time order, as
 * jg_telemetry_metric_series shows them: each point, or with step_ns one per
 * step-aligned window, their total.  For points that are not in the
 * telemetry store (a metric probe's, probe_metric.h).  NULL: out of memory.
 */
json_t *jg_telemetry_fold_delta(const struct jg_telemetry_point *pts, size_t n, bool histogram,
				int64_t step_ns);

#endif
