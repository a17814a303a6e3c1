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
 * The search, one statement per engine and number of attribute filters:
 * the engines differ in the aggregate that lists a trace's services only
 * (the list is sorted after, so the order an engine gives does not show)
 * and in how a filter reads a span's JSON.  The root span's name is read
 * from its JSON after.  The set of trace ids is SEARCH_ALL without filters;
 * with them one FILTER per filter, joined by INTERSECT, its key and value
 * bound to ?9 + 2i and ?10 + 2i (?8 is the longest duration, 0: any): the
 * filters' text is always bound, never pasted.  Each statement is a literal of its own (the
 * statement cache is keyed by the SQL's address, store.h).
 */
#define SEARCH_HEAD(services)                                                                      \
	"SELECT s.trace_id, min(s.start_ns), max(s.end_ns), count(*), "                            \
	"sum(CASE WHEN s.status = 'error' THEN 1 ELSE 0 END), " services ", "                      \
	"(SELECT r.service FROM spans r WHERE r.trace_id = s.trace_id AND "                        \
	" r.parent_span_id IS NULL AND r.received_at >= ?7 "                                       \
	" ORDER BY r.start_ns, r.service, r.span_id LIMIT 1), "                                    \
	"(SELECT r.span FROM spans r WHERE r.trace_id = s.trace_id AND "                           \
	" r.parent_span_id IS NULL AND r.received_at >= ?7 "                                       \
	" ORDER BY r.start_ns, r.service, r.span_id LIMIT 1) "                                     \
	"FROM spans s WHERE s.received_at >= ?7 AND s.trace_id IN ("
#define LITE_HEAD     SEARCH_HEAD("group_concat(DISTINCT s.service)")
#define PG_HEAD	      SEARCH_HEAD("string_agg(DISTINCT s.service, ',')")
#define SEARCH_WINDOW "service = ?1 AND start_ns >= ?2 AND start_ns < ?3 AND received_at >= ?7"
#define SEARCH_ALL    "SELECT DISTINCT trace_id FROM spans WHERE " SEARCH_WINDOW
/* a span attribute that is a string equal to the value: SQLite ... */
#define LITE_FILTER(k, v)                                                                          \
	"SELECT f.trace_id FROM spans f WHERE " SEARCH_WINDOW " AND EXISTS (SELECT 1 FROM "        \
	"json_each(f.span, '$.attributes') a WHERE a.key = ?" k " AND a.type = 'text' AND "        \
	"a.value = ?" v ")"
/* ... and PostgreSQL: jsonb containment of {key: "value"} (a string only contains an equal one) */
#define PG_FILTER(k, v)                                                                            \
	"SELECT f.trace_id FROM spans f WHERE " SEARCH_WINDOW " AND "                              \
	"(f.span::jsonb -> 'attributes') @> jsonb_build_object(CAST(?" k " AS TEXT), CAST(?" v     \
	" AS TEXT))"
#define SEARCH_TAIL                                                                                \
	") GROUP BY s.trace_id "                                                                   \
	"HAVING (?4 = 0 OR sum(CASE WHEN s.status = 'error' THEN 1 ELSE 0 END) > 0) AND "          \
	"max(s.end_ns) - min(s.start_ns) >= ?5 AND "                                               \
	"(?8 = 0 OR max(s.end_ns) - min(s.start_ns) <= ?8) "                                       \
	"ORDER BY min(s.start_ns) DESC, s.trace_id LIMIT ?6"
#define FILTERS_1(F) F("9", "10")
#define FILTERS_2(F) FILTERS_1(F) " INTERSECT " F("11", "12")
#define FILTERS_3(F) FILTERS_2(F) " INTERSECT " F("13", "14")
#define FILTERS_4(F) FILTERS_3(F) " INTERSECT " F("15", "16")

static const char *const sql_search[JG_TELEMETRY_ATTR_MAX + 1] = {
    LITE_HEAD SEARCH_ALL SEARCH_TAIL, LITE_HEAD FILTERS_1(LITE_FILTER) SEARCH_TAIL,
    LITE_HEAD FILTERS_2(LITE_FILTER) SEARCH_TAIL, LITE_HEAD FILTERS_3(LITE_FILTER) SEARCH_TAIL,
    LITE_HEAD FILTERS_4(LITE_FILTER) SEARCH_TAIL};
static const char *const sql_search_pg[JG_TELEMETRY_ATTR_MAX + 1] = {
    PG_HEAD SEARCH_ALL SEARCH_TAIL, PG_HEAD FILTERS_1(PG_FILTER) SEARCH_TAIL,
    PG_HEAD FILTERS_2(PG_FILTER) SEARCH_TAIL, PG_HEAD FILTERS_3(PG_FILTER) SEARCH_TAIL,
    PG_HEAD FILTERS_4(PG_FILTER) SEARCH_TAIL};
_Static_assert(JG_TELEMETRY_ATTR_MAX == 4, "one statement per number of filters");

/*
 * A filtered search's bound: the start of the scan_max-th newest span of the
 * service in the window, read only when there is a (scan_max + 1)-th.
 */
static const char sql_scan_floor[] =
    "SELECT start_ns FROM spans WHERE service = ?1 AND start_ns >= ?2 AND start_ns < ?3 AND "
    "received_at >= ?4 ORDER BY start_ns DESC LIMIT 2 OFFSET ?5";

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

/*
 * A filtered search's window start: q->since, or the start of the
 * scan_max-th newest span when more than scan_max started in the window
 * (*narrowed then says so).
 */
static int
scan_floor(struct jg_store_conn *conn, const struct jg_telemetry_traces_query *q, int64_t *since,
	   bool *narrowed)
{
	struct jg_stmt *st;
	size_t max = q->scan_max ? q->scan_max : JG_TELEMETRY_ATTR_SCAN;
	int64_t starts[2];
	int rows = 0, s;

	*since = q->since;
	*narrowed = false;
	if (jg_stmt_prepare(conn, sql_scan_floor, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, q->service);
	jg_stmt_bind_int64(st, 2, q->since);
	jg_stmt_bind_int64(st, 3, q->until);
	jg_stmt_bind_int64(st, 4, q->received_since);
	jg_stmt_bind_int64(st, 5, (int64_t)max - 1);
	while ((s = jg_stmt_step(st)) == JG_STMT_ROW)
		if (rows < 2)
			starts[rows++] = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	if (s != JG_STMT_DONE)
		return JG_ESTORE;
	if (rows == 2) {
		*since = starts[0];
		*narrowed = true;
	}
	return 0;
}

int
jg_telemetry_traces_search(struct jg_store *db, const struct jg_telemetry_traces_query *q,
			   json_t **traces, int64_t *searched_since)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int64_t since = q->since;
	bool narrowed = false, in_tx = false;
	int rc;

	*traces = NULL;
	if (searched_since != NULL)
		*searched_since = -1;
	if (q->nattrs > JG_TELEMETRY_ATTR_MAX || (q->nattrs > 0 && q->attrs == NULL))
		return JG_EINVAL;
	for (size_t i = 0; i < q->nattrs; i++)
		if (q->attrs[i].key == NULL || q->attrs[i].value == NULL)
			return JG_EINVAL;
	if (db == NULL || jg_store_acquire(db, &conn) != 0)
		return JG_EUNAVAIL;
	bool pg = jg_store_conn_engine(conn) == JG_STORE_POSTGRES;
	json_t *list = json_array();
	const char *sql = pg ? sql_search_pg[q->nattrs] : sql_search[q->nattrs];
	rc = list == NULL ? JG_ENOMEM : 0;
	/* the bound and the search see one snapshot */
	if (rc == 0 && q->nattrs > 0) {
		rc = jg_store_begin_read(conn) == 0 ? 0 : JG_ESTORE;
		in_tx = rc == 0;
		if (rc == 0)
			rc = scan_floor(conn, q, &since, &narrowed);
	}
	if (rc == 0)
		rc = jg_stmt_prepare(conn, sql, &st) == 0 ? 0 : JG_ESTORE;
	if (rc == 0) {
		int s;
		jg_stmt_bind_text(st, 1, q->service);
		jg_stmt_bind_int64(st, 2, since);
		jg_stmt_bind_int64(st, 3, q->until);
		jg_stmt_bind_int64(st, 4, q->errors_only);
		jg_stmt_bind_int64(st, 5, q->min_duration_ns);
		jg_stmt_bind_int64(st, 6, (int64_t)q->limit);
		jg_stmt_bind_int64(st, 7, q->received_since);
		jg_stmt_bind_int64(st, 8, q->max_duration_ns);
		for (size_t i = 0; i < q->nattrs; i++) {
			jg_stmt_bind_text(st, 9 + 2 * (int)i, q->attrs[i].key);
			jg_stmt_bind_text(st, 10 + 2 * (int)i, q->attrs[i].value);
		}
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
	if (in_tx)
		jg_store_rollback(conn);
	jg_store_release(db, conn);
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	if (narrowed && searched_since != NULL)
		*searched_since = since;
	*traces = list;
	return 0;
}
