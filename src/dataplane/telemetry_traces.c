/*
 * telemetry_traces.c - the trace readers (telemetry.h): every span of one
 * trace, and the search for traces with spans of a service.
 *
 * A trace is visible through a service only when it has at least one span
 * of that service: both the check and the read run in one read
 * transaction.  For a reader without read-pii, names, error messages,
 * attributes and events are redacted (telemetry_text.c) before anything is
 * derived from them, and an instance name that holds personal data (an IP
 * address as host.name) becomes "[REDACTED:ip]#N", numbered per trace so
 * instances stay distinct for the clock-skew analysis.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/redact.h"
#include "telemetry_int.h"

/* received_since in both: spans past their retention are not there for the reader */
static const char sql_has_service[] =
    "SELECT 1 FROM spans WHERE trace_id = ? AND service = ? AND received_at >= ? LIMIT 1";
static const char sql_trace[] = "SELECT span FROM spans WHERE trace_id = ? AND received_at >= ? "
				"ORDER BY start_ns, service, span_id LIMIT 10001";

/*
 * The search, one statement per engine: they differ in the aggregate that
 * lists a trace's services only (the list is sorted after, so the order an
 * engine gives does not show).  The root span's name is read from its JSON
 * after (no engine's JSON functions).
 */
#define SEARCH(services)                                                                           \
	"SELECT s.trace_id, min(s.start_ns), max(s.end_ns), count(*), "                            \
	"sum(CASE WHEN s.status = 'error' THEN 1 ELSE 0 END), " services ", "                      \
	"(SELECT r.service FROM spans r WHERE r.trace_id = s.trace_id AND "                        \
	" r.parent_span_id IS NULL AND r.received_at >= ?7 "                                       \
	" ORDER BY r.start_ns, r.service, r.span_id LIMIT 1), "                                    \
	"(SELECT r.span FROM spans r WHERE r.trace_id = s.trace_id AND "                           \
	" r.parent_span_id IS NULL AND r.received_at >= ?7 "                                       \
	" ORDER BY r.start_ns, r.service, r.span_id LIMIT 1) "                                     \
	"FROM spans s WHERE s.received_at >= ?7 AND s.trace_id IN (SELECT DISTINCT trace_id FROM " \
	"spans WHERE service = ?1 AND start_ns >= ?2 AND start_ns < ?3 AND received_at >= ?7) "    \
	"GROUP BY s.trace_id "                                                                     \
	"HAVING (?4 = 0 OR sum(CASE WHEN s.status = 'error' THEN 1 ELSE 0 END) > 0) AND "          \
	"max(s.end_ns) - min(s.start_ns) >= ?5 "                                                   \
	"ORDER BY min(s.start_ns) DESC, s.trace_id LIMIT ?6"

static const char sql_search[] = SEARCH("group_concat(DISTINCT s.service)");
static const char sql_search_pg[] = SEARCH("string_agg(DISTINCT s.service, ',')");

/* Redacts free text into a new JSON string (NULL on failure). */
static json_t *
redacted_text(const char *s, unsigned *found)
{
	char *out;
	size_t n;
	if (jg_redact_text(s, strlen(s), &out, &n, found) != 0)
		return NULL;
	json_t *v = json_stringn(out, n);
	free(out);
	return v;
}

/* Replaces instance names that hold personal data by numbered markers. */
static int
redact_instances(json_t *spans)
{
	json_t *seen = json_object(), *s;
	size_t i;
	int rc = seen ? 0 : JG_ENOMEM;

	json_array_foreach(spans, i, s)
	{
		const char *inst = json_string_value(json_object_get(s, "instance"));
		unsigned found = 0;
		if (rc != 0 || inst == NULL)
			continue;
		json_t *known = json_object_get(seen, inst);
		if (known == NULL) {
			json_t *red = redacted_text(inst, &found);
			if (red == NULL) {
				rc = JG_ENOMEM;
				continue;
			}
			if (found) {
				char name[600];
				snprintf(name, sizeof(name), "%.500s#%zu", json_string_value(red),
					 json_object_size(seen) + 1);
				json_decref(red);
				red = json_string(name);
			}
			json_object_set_new(seen, inst, red);
			known = red;
		}
		json_object_set(s, "instance", known);
	}
	json_decref(seen);
	return rc;
}

/* Every span of trace tid, if one is of service: *mine says whether one is. */
static int
read_trace(struct jg_store_conn *conn, const char *service, const char *tid, int64_t since,
	   json_t *spans, bool *mine)
{
	struct jg_stmt *st;
	int rc = jg_store_begin_read(conn) == 0 ? 0 : JG_ESTORE;

	*mine = false;
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_has_service, &st)) == 0) {
		jg_stmt_bind_text(st, 1, tid);
		jg_stmt_bind_text(st, 2, service);
		jg_stmt_bind_int64(st, 3, since);
		int s = jg_stmt_step(st);
		*mine = s == JG_STMT_ROW;
		rc = s == JG_STMT_ROW || s == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	if (rc == 0 && *mine && (rc = jg_stmt_prepare(conn, sql_trace, &st)) == 0) {
		int s;
		jg_stmt_bind_text(st, 1, tid);
		jg_stmt_bind_int64(st, 2, since);
		while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
			json_t *sp = json_loads(jg_stmt_column_text(st, 0), 0, NULL);
			if (sp == NULL) {
				s = JG_ESTORE;
				break;
			}
			json_array_append_new(spans, sp);
		}
		rc = s == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_rollback(conn);
	return rc == 0 ? 0 : JG_ESTORE;
}

int
jg_telemetry_trace(struct jg_store *db, const char *service, const char *trace_id,
		   int64_t received_since, bool redact, char *const *fields, json_t **spans)
{
	struct jg_store_conn *conn;
	bool mine = false;
	int rc;

	*spans = NULL;
	if (db == NULL || jg_store_acquire(db, &conn) != 0)
		return JG_EUNAVAIL;
	json_t *all = json_array();
	rc = all ? read_trace(conn, service, trace_id, received_since, all, &mine) : JG_EUNAVAIL;
	jg_store_release(db, conn);
	if (rc == 0 && !mine)
		rc = JG_ENOTFOUND;
	if (rc == 0 && redact) {
		size_t i;
		json_t *sp;
		json_array_foreach(all, i, sp)
		{
			if ((rc = jg_telemetry_redact_span(sp, fields)) != 0)
				break;
		}
		if (rc == 0)
			rc = redact_instances(all);
		/* fail closed: nothing half redacted is handed out */
		if (rc == JG_ESTORE || rc == JG_EUNAVAIL || rc == JG_ENOTFOUND)
			rc = JG_ENOMEM;
	}
	if (rc != 0) {
		json_decref(all);
		return rc;
	}
	*spans = all;
	return 0;
}

static int
by_text(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* "a,b,c" -> ["a", "b", "c"] sorted bytewise (each engine lists them in an order of its own). */
static json_t *
service_list(const char *services)
{
	json_t *svcs = json_array();
	for (const char *p = services; svcs != NULL && p && *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		json_array_append_new(svcs, json_stringn(p, n));
		p += n + (comma ? 1 : 0);
	}
	size_t n = json_array_size(svcs);
	json_t **items = n > 1 ? calloc(n, sizeof(*items)) : NULL;
	if (items != NULL) {
		for (size_t i = 0; i < n; i++)
			items[i] = json_incref(json_array_get(svcs, i));
		qsort(items, n, sizeof(*items), by_text);
		json_array_clear(svcs);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(svcs, items[i]);
		free(items);
	} else if (n > 1) {
		json_decref(svcs);
		return NULL;
	}
	return svcs;
}

/* One row of the search -> the trace's summary shown. */
static json_t *
trace_row(struct jg_stmt *st, bool redact)
{
	char when[JG_TELEMETRY_TIME_TEXT];
	int64_t start = jg_stmt_column_int64(st, 1), end = jg_stmt_column_int64(st, 2);
	const char *root = jg_stmt_column_text(st, 7);
	json_t *svcs = service_list(jg_stmt_column_text(st, 5)), *name = json_null();
	json_t *span = root ? json_loads(root, 0, NULL) : NULL;
	const char *root_name = json_string_value(json_object_get(span, "name"));
	if (svcs == NULL || (root != NULL && span == NULL)) {
		json_decref(svcs);
		json_decref(span);
		return NULL;
	}
	if (root_name != NULL) {
		name = redact ? redacted_text(root_name, NULL) : json_string(root_name);
		if (name == NULL) {
			json_decref(svcs);
			json_decref(span);
			return NULL;
		}
	}
	jg_telemetry_time_text(start, when);
	json_t *row = json_pack(
	    "{s:s,s:s,s:o,s:I,s:I,s:I,s:o,s:s?,s:o}", "trace_id", jg_stmt_column_text(st, 0),
	    "start", when, "start_unix_nano", jg_telemetry_ns_string(start), "duration_ms",
	    (json_int_t)((end - start) / 1000000), "spans", (json_int_t)jg_stmt_column_int64(st, 3),
	    "errors", (json_int_t)jg_stmt_column_int64(st, 4), "services", svcs, "root_service",
	    jg_stmt_column_text(st, 6), "root_name", name);
	json_decref(span);
	return row;
}

int
jg_telemetry_traces_search(struct jg_store *db, const struct jg_telemetry_traces_query *q,
			   json_t **traces)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	*traces = NULL;
	if (db == NULL || jg_store_acquire(db, &conn) != 0)
		return JG_EUNAVAIL;
	json_t *list = json_array();
	const char *sql =
	    jg_store_conn_engine(conn) == JG_STORE_POSTGRES ? sql_search_pg : sql_search;
	rc = list == NULL ? JG_ENOMEM : jg_stmt_prepare(conn, sql, &st) == 0 ? 0 : JG_ESTORE;
	if (rc == 0) {
		int s;
		jg_stmt_bind_text(st, 1, q->service);
		jg_stmt_bind_int64(st, 2, q->since);
		jg_stmt_bind_int64(st, 3, q->until);
		jg_stmt_bind_int64(st, 4, q->errors_only);
		jg_stmt_bind_int64(st, 5, q->min_duration_ns);
		jg_stmt_bind_int64(st, 6, (int64_t)q->limit);
		jg_stmt_bind_int64(st, 7, q->received_since);
		while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
			json_t *row = trace_row(st, q->redact);
			if (row == NULL) {
				s = JG_ENOMEM;
				break;
			}
			json_array_append_new(list, row);
		}
		rc = s == JG_STMT_DONE ? 0 : s == JG_ENOMEM ? JG_ENOMEM : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_release(db, conn);
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	*traces = list;
	return 0;
}
