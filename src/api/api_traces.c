/*
 * api_traces.c - traces behind the guard (read-traces).
 *
 *   GET /v1/services/{svc}/traces?since=&until=&status=error&min_duration=&limit=
 *       the traces with spans of svc that started in the window, newest
 *       first, with their size, duration, errors and services;
 *   GET /v1/services/{svc}/traces/{trace_id}?adjust_skew=true
 *       the whole trace as a tree with its analysis (trace_analysis.h).
 *
 * A trace is visible through svc only when it has at least one span of svc.
 * The analysis runs on every span of the trace; spans of other services
 * keep their structure (service, operation, status, timing, error code) and
 * have their attributes, events and error message withheld.  A reader
 * without read-pii gets names, error messages, attributes and events
 * redacted (telemetry.h) before the analysis sees them, so nothing derived
 * from them leaks either; an instance name that holds personal data (an IP
 * address as host.name) becomes "[REDACTED:ip]#N", numbered per trace so
 * instances stay distinct for the clock-skew analysis.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_routes_int.h"
#include "api_telemetry_int.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/redact.h"
#include "jitgate/telemetry.h"
#include "jitgate/trace_analysis.h"

#define MAX_LIMIT     200
#define DEFAULT_LIMIT 50

static const char sql_has_service[] =
    "SELECT 1 FROM spans WHERE trace_id = ? AND service = ? LIMIT 1";
static const char sql_trace[] = "SELECT span FROM spans WHERE trace_id = ? ORDER BY start_ns, "
				"service, span_id LIMIT 10001";
static const char sql_search[] =
    "SELECT s.trace_id, min(s.start_ns), max(s.end_ns), count(*), "
    "sum(s.status = 'error'), group_concat(DISTINCT s.service), "
    "(SELECT r.service FROM spans r WHERE r.trace_id = s.trace_id AND r.parent_span_id IS NULL "
    " ORDER BY r.start_ns LIMIT 1), "
    "(SELECT json_extract(r.span, '$.name') FROM spans r WHERE r.trace_id = s.trace_id AND "
    " r.parent_span_id IS NULL ORDER BY r.start_ns LIMIT 1) "
    "FROM spans s WHERE s.trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE service = ?1 "
    " AND start_ns >= ?2 AND start_ns < ?3) "
    "GROUP BY s.trace_id "
    "HAVING (?4 = 0 OR sum(s.status = 'error') > 0) AND max(s.end_ns) - min(s.start_ns) >= ?5 "
    "ORDER BY min(s.start_ns) DESC LIMIT ?6";

static bool
covered(const char *service, void *ctx)
{
	return service != NULL && strcmp(service, (const char *)ctx) == 0;
}

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

static void
handle_trace(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc");
	char tid[33], why[256];
	bool adjust;
	struct jg_guarded g;
	struct jg_store_conn *conn;
	struct jg_stmt *st;

	if (!jg_tq_trace_id(jg_http_param(req, "trace_id"), tid)) {
		jg_http_reply_error(reply, 404, "not_found",
				    "no such trace: a trace id is 32 hex digits");
		return;
	}
	if (jg_tq_bool(req, reply, "adjust_skew", &adjust) != 0)
		return;
	json_t *params = json_pack("{s:s,s:b}", "trace_id", tid, "adjust_skew", adjust);
	if (jg_guard_params(&app->guard, req, reply, svc, "read-traces", "traces.read", params,
			    &g) != 0)
		return;

	json_t *spans = json_array();
	bool mine = false;
	if (spans == NULL || app->telemetry == NULL ||
	    jg_store_acquire(app->telemetry, &conn) != 0) {
		json_decref(spans);
		jg_http_reply_error(reply, 503, "unavailable",
				    "the telemetry store is unavailable");
		return;
	}
	int rc = jg_store_begin_read(conn);
	if (rc == 0 && (rc = jg_stmt_prepare(conn, sql_has_service, &st)) == 0) {
		jg_stmt_bind_text(st, 1, tid);
		jg_stmt_bind_text(st, 2, svc);
		int s = jg_stmt_step(st);
		mine = s == JG_STMT_ROW;
		rc = s == JG_STMT_ROW || s == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	if (rc == 0 && mine && (rc = jg_stmt_prepare(conn, sql_trace, &st)) == 0) {
		int s;
		jg_stmt_bind_text(st, 1, tid);
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
	jg_store_release(app->telemetry, conn);
	if (rc != 0) {
		json_decref(spans);
		jg_http_reply_error(reply, 503, "unavailable", "the trace cannot be read now");
		return;
	}
	if (!mine) {
		json_decref(spans);
		jg_http_reply_error(reply, 404, "not_found", "no trace %s with spans of %s", tid,
				    svc);
		return;
	}
	bool redact = !g.has_pii;
	if (redact) {
		size_t i;
		json_t *sp;
		json_array_foreach(spans, i, sp)
		{
			if (rc == 0)
				rc = jg_telemetry_redact_span(sp,
							      app->cfg->redaction_sensitive_fields);
		}
		if (rc == 0)
			rc = redact_instances(spans);
		if (rc != 0) {
			/* fail closed: nothing half redacted is shown */
			json_decref(spans);
			jg_http_reply_error(reply, 500, "internal_error",
					    "the trace could not be redacted; nothing is shown");
			return;
		}
	}
	json_t *out = NULL;
	rc = jg_trace_analyze(spans, covered, (void *)svc, adjust, &out, why, sizeof(why));
	json_decref(spans);
	if (rc == JG_ETOOBIG) {
		jg_http_reply_error(reply, 422, "trace_too_large",
				    "the trace has more than %d spans", JG_TRACE_MAX_SPANS);
		return;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, 422, "trace_unreadable",
				    "the trace cannot be analysed: %s", why);
		return;
	}
	json_object_set_new(out, "service", json_string(svc));
	json_object_set_new(out, "redacted", json_boolean(redact));
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(reply, 200, out);
}

static void
handle_search(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc"), *status = jg_http_query(req, "status");
	int64_t since, until, min_dur;
	uint64_t limit;
	struct jg_guarded g;
	struct jg_store_conn *conn;
	struct jg_stmt *st;

	if (jg_tq_window(req, reply, &since, &until) != 0 ||
	    jg_tq_duration(req, reply, "min_duration", 0, &min_dur) != 0 ||
	    jg_http_query_u64(req, reply, "limit", DEFAULT_LIMIT, MAX_LIMIT, &limit) != 0)
		return;
	if (limit == 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'limit' must be 1 to %d",
				    MAX_LIMIT);
		return;
	}
	if (status != NULL && strcmp(status, "error") != 0 && strcmp(status, "any") != 0) {
		jg_http_reply_error(reply, 400, "bad_request", "'status' must be error or any");
		return;
	}
	bool errors = status != NULL && strcmp(status, "error") == 0;
	json_t *params = json_pack("{s:I,s:I,s:b,s:I,s:I}", "since", (json_int_t)since, "until",
				   (json_int_t)until, "errors_only", errors, "min_duration_ns",
				   (json_int_t)min_dur, "limit", (json_int_t)limit);
	if (jg_guard_params(&app->guard, req, reply, svc, "read-traces", "traces.search", params,
			    &g) != 0)
		return;

	bool redact = !g.has_pii;
	json_t *list = json_array();
	if (list == NULL || app->telemetry == NULL ||
	    jg_store_acquire(app->telemetry, &conn) != 0) {
		json_decref(list);
		jg_http_reply_error(reply, 503, "unavailable",
				    "the telemetry store is unavailable");
		return;
	}
	int rc = jg_stmt_prepare(conn, sql_search, &st);
	if (rc == 0) {
		int s;
		jg_stmt_bind_text(st, 1, svc);
		jg_stmt_bind_int64(st, 2, since);
		jg_stmt_bind_int64(st, 3, until);
		jg_stmt_bind_int64(st, 4, errors);
		jg_stmt_bind_int64(st, 5, min_dur);
		jg_stmt_bind_int64(st, 6, (int64_t)limit);
		while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
			char when[JG_TIME_TEXT];
			int64_t start = jg_stmt_column_int64(st, 1),
				end = jg_stmt_column_int64(st, 2);
			const char *services = jg_stmt_column_text(st, 5);
			const char *root_name = jg_stmt_column_text(st, 7);
			json_t *svcs = json_array(), *name = json_null();
			for (const char *p = services; p && *p;) {
				const char *comma = strchr(p, ',');
				size_t n = comma ? (size_t)(comma - p) : strlen(p);
				json_array_append_new(svcs, json_stringn(p, n));
				p += n + (comma ? 1 : 0);
			}
			if (root_name != NULL) {
				name = redact ? redacted_text(root_name, NULL)
					      : json_string(root_name);
				if (name == NULL) {
					json_decref(svcs);
					s = JG_ENOMEM;
					break;
				}
			}
			jg_tq_time_text(start, when);
			json_array_append_new(
			    list, json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:o,s:s?,s:o}", "trace_id",
					    jg_stmt_column_text(st, 0), "start", when,
					    "start_unix_nano", jg_tq_ns_string(start),
					    "duration_ms", (json_int_t)((end - start) / 1000000),
					    "spans", (json_int_t)jg_stmt_column_int64(st, 3),
					    "errors", (json_int_t)jg_stmt_column_int64(st, 4),
					    "services", svcs, "root_service",
					    jg_stmt_column_text(st, 6), "root_name", name));
		}
		rc = s == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_release(app->telemetry, conn);
	if (rc != 0) {
		json_decref(list);
		jg_http_reply_error(reply, 503, "unavailable", "the traces cannot be read now");
		return;
	}
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(
	    reply, 200,
	    json_pack("{s:s,s:b,s:o}", "service", svc, "redacted", redact, "traces", list));
}

static const struct jg_route routes[] = {
    {"GET", "/v1/services/{svc}/traces", handle_search, NULL, 0},
    {"GET", "/v1/services/{svc}/traces/{trace_id}", handle_trace, NULL, 0},
};
const struct jg_route_table jg_api_traces_routes = {routes, sizeof(routes) / sizeof(routes[0])};
