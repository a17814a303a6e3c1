/*
 * api_metrics.c - GET /v1/services/{svc}/metrics behind the guard (read-metrics).
 *
 *   without ?name=   the metrics the service has in the window: name, kind,
 *                    unit, description, points and the last time
 *   ?name=&since=&until=&step=
 *                    that metric's series (one per set of attributes):
 *                    gauges and sums as {time, value} points, histograms as
 *                    {time, count, sum, min, max, buckets[{upper_bound, count}]}
 *
 * With ?step= (a duration, at least 1s) points fall into step-aligned
 * windows and each window shows one point: the last one for gauges and
 * cumulative sums and histograms, the total for delta sums and histograms.
 * At most MAX_ROWS data points are read per call (400 past that: narrow the
 * window).  Series attributes are redacted for a reader without read-pii;
 * series stay apart by their stored attributes even when they redact alike.
 */
#include <math.h>
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

#define MAX_ROWS    100000
#define MAX_NAME    255
#define MIN_STEP_NS 1000000000LL

static const char sql_names[] =
    "SELECT name, kind, unit, description, count(*), max(time_ns) FROM metric_points "
    "WHERE service = ? AND time_ns >= ? AND time_ns < ? GROUP BY name, kind ORDER BY name, kind "
    "LIMIT 1000";
static const char sql_points[] =
    "SELECT kind, unit, description, temporality, monotonic, series, time_ns, value, histogram "
    "FROM metric_points WHERE service = ? AND name = ? AND time_ns >= ? AND time_ns < ? "
    "ORDER BY kind, series, time_ns, id LIMIT 100001";

/* Adds histogram b into a (delta windows): counts, sum, min and max. */
static void
hist_add(json_t *a, json_t *b)
{
	json_t *ca = json_object_get(a, "counts"), *cb = json_object_get(b, "counts");
	json_object_set_new(a, "count",
			    json_integer(json_integer_value(json_object_get(a, "count")) +
					 json_integer_value(json_object_get(b, "count"))));
	if (json_array_size(ca) == json_array_size(cb) &&
	    json_equal(json_object_get(a, "bounds"), json_object_get(b, "bounds"))) {
		for (size_t i = 0; i < json_array_size(ca); i++)
			json_array_set_new(ca, i,
					   json_integer(json_integer_value(json_array_get(ca, i)) +
							json_integer_value(json_array_get(cb, i))));
	}
	json_t *sa = json_object_get(a, "sum"), *sb = json_object_get(b, "sum");
	if (json_is_number(sa) && json_is_number(sb))
		json_object_set_new(a, "sum",
				    json_real(json_number_value(sa) + json_number_value(sb)));
	json_t *x = json_object_get(a, "min"), *y = json_object_get(b, "min");
	if (json_is_number(y) &&
	    (!json_is_number(x) || json_number_value(y) < json_number_value(x)))
		json_object_set(a, "min", y);
	x = json_object_get(a, "max");
	y = json_object_get(b, "max");
	if (json_is_number(y) &&
	    (!json_is_number(x) || json_number_value(y) > json_number_value(x)))
		json_object_set(a, "max", y);
}

/* The point shown for a stored histogram: buckets with their upper bounds. */
static json_t *
hist_point(json_t *h)
{
	json_t *bounds = json_object_get(h, "bounds"), *counts = json_object_get(h, "counts");
	json_t *buckets = json_array();
	for (size_t i = 0; i < json_array_size(counts); i++) {
		json_t *ub = i < json_array_size(bounds) ? json_incref(json_array_get(bounds, i))
							 : json_string("+Inf");
		json_array_append_new(buckets, json_pack("{s:o,s:O}", "upper_bound", ub, "count",
							 json_array_get(counts, i)));
	}
	return json_pack("{s:O,s:O*,s:O*,s:O*,s:o}", "count", json_object_get(h, "count"), "sum",
			 json_object_get(h, "sum"), "min", json_object_get(h, "min"), "max",
			 json_object_get(h, "max"), "buckets", buckets);
}

/* A window's state while rows of one series are read. */
struct window {
	int open;
	int64_t start; /* window start (or the point's time without step) */
	int64_t t;     /* the last point's time */
	double value;  /* gauge/sum */
	int has_value;
	json_t *hist; /* owned */
};

static void
flush(struct window *w, json_t *points, int histogram)
{
	char when[JG_TIME_TEXT];
	if (!w->open)
		return;
	jg_tq_time_text(w->start, when);
	json_t *p;
	if (histogram) {
		p = hist_point(w->hist);
	} else {
		p = json_pack("{s:o}", "value", w->has_value ? json_real(w->value) : json_null());
	}
	if (p != NULL) {
		json_object_set_new(p, "time", json_string(when));
		json_object_set_new(p, "time_unix_nano", jg_tq_ns_string(w->start));
		json_array_append_new(points, p);
	}
	json_decref(w->hist);
	memset(w, 0, sizeof(*w));
}

static void
handle_metrics(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc"), *name = jg_http_query(req, "name");
	int64_t since, until, step;
	struct jg_guarded g;
	struct jg_store_conn *conn;
	struct jg_stmt *st;

	if (jg_tq_window(req, reply, &since, &until) != 0 ||
	    jg_tq_duration(req, reply, "step", 0, &step) != 0)
		return;
	if (jg_http_query(req, "step") != NULL && step < MIN_STEP_NS) {
		jg_http_reply_error(reply, 400, "bad_request", "'step' must be at least 1s");
		return;
	}
	/*
	 * The name goes into the audit entry as a JSON string, which holds only
	 * UTF-8: other bytes are the caller's error (400), not an encoder's (the
	 * NULL params were once answered as a 500 "out of memory").
	 */
	json_t *namej = name ? json_string(name) : NULL;
	if (name != NULL && (*name == '\0' || strlen(name) > MAX_NAME || namej == NULL)) {
		jg_http_reply_error(reply, 400, "bad_request",
				    "'name' must be 1 to %d bytes of UTF-8", MAX_NAME);
		json_decref(namej);
		return;
	}
	json_t *params = json_pack("{s:o?,s:I,s:I,s:I}", "name", namej, "since", (json_int_t)since,
				   "until", (json_int_t)until, "step_ns", (json_int_t)step);
	if (jg_guard_params(&app->guard, req, reply, svc, "read-metrics", "metrics.read", params,
			    &g) != 0)
		return;

	bool redact = !g.has_pii;
	json_t *metrics = json_array();
	size_t rows = 0;
	if (metrics == NULL || app->telemetry == NULL ||
	    jg_store_acquire(app->telemetry, &conn) != 0) {
		json_decref(metrics);
		jg_http_reply_error(reply, 503, "unavailable",
				    "the telemetry store is unavailable");
		return;
	}
	int s = JG_ESTORE, rc;
	if (name == NULL) {
		if ((rc = jg_stmt_prepare(conn, sql_names, &st)) == 0) {
			jg_stmt_bind_text(st, 1, svc);
			jg_stmt_bind_int64(st, 2, since);
			jg_stmt_bind_int64(st, 3, until);
			while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
				char when[JG_TIME_TEXT];
				jg_tq_time_text(jg_stmt_column_int64(st, 5), when);
				json_array_append_new(
				    metrics, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "name",
						       jg_stmt_column_text(st, 0), "kind",
						       jg_stmt_column_text(st, 1), "unit",
						       jg_stmt_column_text(st, 2), "description",
						       jg_stmt_column_text(st, 3), "points",
						       (json_int_t)jg_stmt_column_int64(st, 4),
						       "last", when));
			}
			jg_stmt_finish(st);
		}
	} else if ((rc = jg_stmt_prepare(conn, sql_points, &st)) == 0) {
		json_t *metric = NULL, *series = NULL, *points = NULL;
		char cur_kind[16] = "", *cur_series = NULL;
		int histogram = 0, delta = 0;
		struct window w = {0};
		jg_stmt_bind_text(st, 1, svc);
		jg_stmt_bind_text(st, 2, name);
		jg_stmt_bind_int64(st, 3, since);
		jg_stmt_bind_int64(st, 4, until);
		while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
			if (++rows > MAX_ROWS)
				break;
			const char *kind = jg_stmt_column_text(st, 0);
			const char *ser = jg_stmt_column_text(st, 5);
			int64_t t = jg_stmt_column_int64(st, 6);
			if (strcmp(kind, cur_kind) != 0) {
				flush(&w, points, histogram);
				snprintf(cur_kind, sizeof(cur_kind), "%s", kind);
				free(cur_series);
				cur_series = NULL;
				histogram = strcmp(kind, "histogram") == 0;
				delta = strcmp(jg_stmt_column_text(st, 3), "delta") == 0;
				metric = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:[]}", "name", name,
						   "kind", kind, "unit", jg_stmt_column_text(st, 1),
						   "description", jg_stmt_column_text(st, 2),
						   "temporality", jg_stmt_column_text(st, 3),
						   "monotonic", (int)jg_stmt_column_int64(st, 4),
						   "series");
				json_array_append_new(metrics, metric);
			}
			if (cur_series == NULL || strcmp(ser, cur_series) != 0) {
				flush(&w, points, histogram);
				free(cur_series);
				cur_series = strdup(ser);
				json_t *attrs = json_loads(ser, 0, NULL);
				char *const *fields = app->cfg->redaction_sensitive_fields;
				size_t nf = 0;
				while (fields && fields[nf])
					nf++;
				if (attrs == NULL || cur_series == NULL ||
				    (redact && jg_redact_json(attrs, (const char *const *)fields,
							      nf, NULL) != 0)) {
					/* fail closed: nothing half redacted is shown */
					json_decref(attrs);
					s = JG_ENOMEM;
					break;
				}
				points = json_array();
				series =
				    json_pack("{s:o,s:o}", "attributes", attrs, "points", points);
				json_array_append_new(json_object_get(metric, "series"), series);
			}
			int64_t start = step ? t - t % step : t;
			if (w.open && start != w.start)
				flush(&w, points, histogram);
			if (!w.open) {
				w.open = 1;
				w.start = start;
			}
			w.t = t;
			if (histogram) {
				json_t *h = json_loads(jg_stmt_column_text(st, 8), 0, NULL);
				if (h == NULL) {
					s = JG_ESTORE;
					break;
				}
				if (delta && w.hist != NULL) {
					hist_add(w.hist, h);
					json_decref(h);
				} else {
					json_decref(w.hist);
					w.hist = h;
				}
			} else {
				int has = !jg_stmt_column_is_null(st, 7);
				double v = jg_stmt_column_double(st, 7);
				if (delta && w.has_value && has)
					w.value += v;
				else {
					w.value = v;
					w.has_value = has;
				}
			}
		}
		if (s == JG_STMT_DONE)
			flush(&w, points, histogram);
		json_decref(w.hist);
		free(cur_series);
		jg_stmt_finish(st);
	}
	jg_store_release(app->telemetry, conn);
	if (rows > MAX_ROWS) {
		json_decref(metrics);
		jg_http_reply_error(reply, 400, "too_many_points",
				    "more than %d data points in the window: narrow since/until",
				    MAX_ROWS);
		return;
	}
	if (rc != 0 || s != JG_STMT_DONE) {
		json_decref(metrics);
		jg_http_reply_error(reply, 503, "unavailable", "the metrics cannot be read now");
		return;
	}
	json_t *out =
	    json_pack("{s:s,s:b,s:o}", "service", svc, "redacted", redact, "metrics", metrics);
	if (name != NULL)
		json_object_set_new(out, "name", json_string(name));
	json_object_set_new(out, "step_seconds",
			    step ? json_integer((json_int_t)(step / 1000000000LL)) : json_null());
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(reply, 200, out);
}

static const struct jg_route routes[] = {
    {"GET", "/v1/services/{svc}/metrics", handle_metrics, NULL, 0},
};
const struct jg_route_table jg_api_metrics_routes = {routes, sizeof(routes) / sizeof(routes[0])};
