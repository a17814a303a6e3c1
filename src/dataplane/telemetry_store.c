/*
 * telemetry_store.c - storing converted records (otlp.h): logs with their
 * two search index rows, spans, metric points.  Rows are written through
 * prepared statements only, one transaction per batch: all of it or nothing.
 */
#include <stdlib.h>

#include "telemetry_int.h"

static const char sql_log_insert[] =
    "INSERT INTO logs (service, time_ns, severity_number, level, trace_id, span_id, record, "
    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"; /* no RETURNING: see store.h */
static const char sql_fts_insert[] = "INSERT INTO logs_fts (rowid, text) VALUES (?, ?)";
static const char sql_fts_red_insert[] =
    "INSERT INTO logs_fts_redacted (rowid, text) VALUES (?, ?)";
static const char sql_span_insert[] =
    "INSERT INTO spans (service, trace_id, span_id, parent_span_id, start_ns, end_ns, status, "
    "span, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (service, trace_id, span_id) DO NOTHING";
static const char sql_point_insert[] =
    "INSERT INTO metric_points (service, name, kind, unit, description, temporality, monotonic, "
    "series, start_ns, time_ns, value, histogram, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

static int64_t
int_member(json_t *o, const char *k)
{
	return (int64_t)json_integer_value(json_object_get(o, k));
}

static int
store_log(struct jg_store_conn *conn, const char *service, json_t *r, char *const *fields,
	  int64_t now)
{
	struct jg_stmt *st;
	int64_t id = 0;
	int rc;

	json_t *rec = json_pack(
	    "{s:O,s:O,s:O,s:O,s:O,s:O}", "body", json_object_get(r, "body"), "attributes",
	    json_object_get(r, "attributes"), "resource", json_object_get(r, "resource"), "scope",
	    json_object_get(r, "scope"), "severity_text", json_object_get(r, "severity_text"),
	    "observed_ns", json_object_get(r, "observed_ns"));
	char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	char *raw = jg_telemetry_log_text(r, NULL);
	char *red = jg_telemetry_log_text(r, fields);
	json_decref(rec);
	if (text == NULL || raw == NULL || red == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_log_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_int64(st, 2, int_member(r, "time_ns"));
	jg_stmt_bind_int64(st, 3, int_member(r, "severity_number"));
	jg_stmt_bind_text(st, 4, json_string_value(json_object_get(r, "level")));
	jg_stmt_bind_text(st, 5, json_string_value(json_object_get(r, "trace_id")));
	jg_stmt_bind_text(st, 6, json_string_value(json_object_get(r, "span_id")));
	jg_stmt_bind_text(st, 7, text);
	jg_stmt_bind_int64(st, 8, now);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		rc = JG_ESTORE;
		goto out;
	}
	id = jg_store_last_insert_rowid(conn);
	if ((rc = jg_stmt_prepare(conn, sql_fts_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_int64(st, 1, id);
	jg_stmt_bind_text(st, 2, raw);
	if ((rc = jg_stmt_run(st)) != 0)
		goto out;
	if ((rc = jg_stmt_prepare(conn, sql_fts_red_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_int64(st, 1, id);
	jg_stmt_bind_text(st, 2, red);
	rc = jg_stmt_run(st);
out:
	free(text);
	free(raw);
	free(red);
	return rc;
}

static int
store_span(struct jg_store_conn *conn, const char *service, json_t *s, int64_t now)
{
	struct jg_stmt *st;
	char *text = json_dumps(s, JSON_COMPACT);
	int rc;

	if (text == NULL)
		return JG_ENOMEM;
	if ((rc = jg_stmt_prepare(conn, sql_span_insert, &st)) == 0) {
		jg_stmt_bind_text(st, 1, service);
		jg_stmt_bind_text(st, 2, json_string_value(json_object_get(s, "trace_id")));
		jg_stmt_bind_text(st, 3, json_string_value(json_object_get(s, "span_id")));
		jg_stmt_bind_text(st, 4, json_string_value(json_object_get(s, "parent_span_id")));
		jg_stmt_bind_int64(st, 5, int_member(s, "start_ns"));
		jg_stmt_bind_int64(st, 6, int_member(s, "end_ns"));
		jg_stmt_bind_text(st, 7, json_string_value(json_object_get(s, "status")));
		jg_stmt_bind_text(st, 8, text);
		jg_stmt_bind_int64(st, 9, now);
		rc = jg_stmt_run(st);
	}
	free(text);
	return rc;
}

static int
store_point(struct jg_store_conn *conn, const char *service, json_t *p, int64_t now)
{
	struct jg_stmt *st;
	char *series = json_dumps(json_object_get(p, "series"), JSON_COMPACT | JSON_SORT_KEYS);
	json_t *h = json_object_get(p, "histogram");
	char *hist = h ? json_dumps(h, JSON_COMPACT) : NULL;
	int rc;

	if (series == NULL || (h != NULL && hist == NULL)) {
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_point_insert, &st)) != 0)
		goto out;
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_text(st, 2, json_string_value(json_object_get(p, "name")));
	jg_stmt_bind_text(st, 3, json_string_value(json_object_get(p, "kind")));
	jg_stmt_bind_text(st, 4, json_string_value(json_object_get(p, "unit")));
	jg_stmt_bind_text(st, 5, json_string_value(json_object_get(p, "description")));
	jg_stmt_bind_text(st, 6, json_string_value(json_object_get(p, "temporality")));
	jg_stmt_bind_int64(st, 7, json_is_true(json_object_get(p, "monotonic")));
	jg_stmt_bind_text(st, 8, series);
	jg_stmt_bind_int64(st, 9, int_member(p, "start_ns"));
	jg_stmt_bind_int64(st, 10, int_member(p, "time_ns"));
	json_t *v = json_object_get(p, "value");
	if (json_is_number(v))
		jg_stmt_bind_double(st, 11, json_number_value(v));
	else
		jg_stmt_bind_null(st, 11);
	jg_stmt_bind_text(st, 12, hist);
	jg_stmt_bind_int64(st, 13, now);
	rc = jg_stmt_run(st);
out:
	free(series);
	free(hist);
	return rc;
}

enum kind { LOGS, SPANS, POINTS };

static int
store_batch(struct jg_store *db, enum kind kind, const char *service, json_t *items,
	    char *const *fields, int64_t now)
{
	struct jg_store_conn *conn;
	size_t i;
	json_t *it;
	int rc;

	if (jg_store_acquire(db, &conn) != 0)
		return JG_ESTORE;
	rc = jg_store_begin(conn);
	json_array_foreach(items, i, it)
	{
		if (rc != 0)
			break;
		switch (kind) {
		case LOGS: rc = store_log(conn, service, it, fields, now); break;
		case SPANS: rc = store_span(conn, service, it, now); break;
		case POINTS: rc = store_point(conn, service, it, now); break;
		}
	}
	if (rc == 0)
		rc = jg_store_commit(conn);
	if (rc != 0)
		jg_store_rollback(conn);
	jg_store_release(db, conn);
	return rc == JG_ENOMEM ? rc : (rc != 0 ? JG_ESTORE : 0);
}

int
jg_telemetry_store_logs(struct jg_store *db, const char *service, json_t *records,
			char *const *fields, int64_t now)
{
	return store_batch(db, LOGS, service, records, fields, now);
}

int
jg_telemetry_store_spans(struct jg_store *db, const char *service, json_t *spans, int64_t now)
{
	return store_batch(db, SPANS, service, spans, NULL, now);
}

int
jg_telemetry_store_metrics(struct jg_store *db, const char *service, json_t *points, int64_t now)
{
	return store_batch(db, POINTS, service, points, NULL, now);
}
