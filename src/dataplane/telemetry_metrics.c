/*
 * telemetry_metrics.c - the metric readers (telemetry.h): the metrics a
 * service has in a window, and one metric's series.
 *
 * A series is one set of attributes (stored as canonical JSON, so its
 * points sort together).  With a step, points fall into step-aligned
 * windows and each window shows one point: the last one for gauges and
 * cumulative sums and histograms, the total for delta sums and histograms.
 * At most JG_TELEMETRY_METRIC_POINTS_MAX points are read per call.  Series
 * attributes are redacted for a reader without read-pii; series stay apart
 * by their stored attributes even when they redact alike.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry_int.h"

/*
 * A metric is its name and kind; its unit and description are those of its
 * newest point (ties: the last stored).  Every column is grouped or
 * aggregated, as PostgreSQL requires: a bare unit beside GROUP BY name,
 * kind is refused there and picks an arbitrary row elsewhere.
 */
static const char sql_names[] =
    "SELECT name, kind, unit, description, points, last FROM "
    "(SELECT name, kind, unit, description, count(*) OVER w AS points, "
    "max(time_ns) OVER w AS last, "
    "row_number() OVER (PARTITION BY name, kind ORDER BY time_ns DESC, id DESC) AS newest "
    "FROM metric_points WHERE service = ? AND time_ns >= ? AND time_ns < ? AND received_at >= ? "
    "WINDOW w AS (PARTITION BY name, kind)) AS m "
    "WHERE newest = 1 ORDER BY name, kind LIMIT 1000";
static const char sql_points[] =
    "SELECT kind, unit, description, temporality, monotonic, series, time_ns, value, histogram "
    "FROM metric_points WHERE service = ? AND name = ? AND time_ns >= ? AND time_ns < ? "
    "AND received_at >= ? ORDER BY kind, series, time_ns, id LIMIT 100001";

int
jg_telemetry_metric_names(struct jg_store *db, const char *service, int64_t since, int64_t until,
			  int64_t received_since, json_t **metrics)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int s = JG_ESTORE;

	*metrics = NULL;
	if (db == NULL || jg_store_acquire(db, &conn) != 0)
		return JG_EUNAVAIL;
	json_t *list = json_array();
	if (list != NULL && jg_stmt_prepare(conn, sql_names, &st) == 0) {
		jg_stmt_bind_text(st, 1, service);
		jg_stmt_bind_int64(st, 2, since);
		jg_stmt_bind_int64(st, 3, until);
		jg_stmt_bind_int64(st, 4, received_since);
		while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
			char when[JG_TELEMETRY_TIME_TEXT];
			jg_telemetry_time_text(jg_stmt_column_int64(st, 5), when);
			json_array_append_new(
			    list, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "name",
					    jg_stmt_column_text(st, 0), "kind",
					    jg_stmt_column_text(st, 1), "unit",
					    jg_stmt_column_text(st, 2), "description",
					    jg_stmt_column_text(st, 3), "points",
					    (json_int_t)jg_stmt_column_int64(st, 4), "last", when));
		}
		jg_stmt_finish(st);
	}
	jg_store_release(db, conn);
	if (s != JG_STMT_DONE) {
		json_decref(list);
		return JG_ESTORE;
	}
	*metrics = list;
	return 0;
}

/* x + y, held at INT64_MAX rather than wrapping (counts are never negative). */
static json_int_t
add_held(json_int_t x, json_int_t y)
{
	json_int_t z;
	return __builtin_add_overflow(x, y, &z) ? (json_int_t)INT64_MAX : z;
}

/* Adds histogram b into a (delta windows): counts, sum, min and max. */
static void
hist_add(json_t *a, json_t *b)
{
	json_t *ca = json_object_get(a, "counts"), *cb = json_object_get(b, "counts");
	json_object_set_new(
	    a, "count",
	    json_integer(add_held(json_integer_value(json_object_get(a, "count")),
				  json_integer_value(json_object_get(b, "count")))));
	if (json_array_size(ca) == json_array_size(cb) &&
	    json_equal(json_object_get(a, "bounds"), json_object_get(b, "bounds"))) {
		for (size_t i = 0; i < json_array_size(ca); i++)
			json_array_set_new(
			    ca, i,
			    json_integer(add_held(json_integer_value(json_array_get(ca, i)),
						  json_integer_value(json_array_get(cb, i)))));
	}
	/* a sum past the largest double is no sum: null, as a sender that left it out */
	json_t *sa = json_object_get(a, "sum"), *sb = json_object_get(b, "sum");
	if (json_is_number(sa) && json_is_number(sb)) {
		double sum = json_number_value(sa) + json_number_value(sb);
		json_object_set_new(a, "sum", isfinite(sum) ? json_real(sum) : json_null());
	}
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
	char when[JG_TELEMETRY_TIME_TEXT];
	if (!w->open)
		return;
	jg_telemetry_time_text(w->start, when);
	json_t *p;
	if (histogram) {
		p = hist_point(w->hist);
	} else {
		p = json_pack("{s:o}", "value", w->has_value ? json_real(w->value) : json_null());
	}
	if (p != NULL) {
		json_object_set_new(p, "time", json_string(when));
		json_object_set_new(p, "time_unix_nano", jg_telemetry_ns_string(w->start));
		json_array_append_new(points, p);
	}
	json_decref(w->hist);
	memset(w, 0, sizeof(*w));
}

/*
 * Adds the point at t (a gauge's or sum's value when has, else histogram h,
 * owned) to the series' points: with step_ns into its step-aligned window
 * (a delta's total, else the last), else as a point of its own.
 */
static void
window_add(struct window *w, json_t *points, int histogram, int delta, int64_t step_ns, int64_t t,
	   int has, double v, json_t *h)
{
	int64_t start = step_ns ? t - t % step_ns : t;
	if (w->open && start != w->start)
		flush(w, points, histogram);
	if (!w->open) {
		w->open = 1;
		w->start = start;
	}
	w->t = t;
	if (histogram) {
		if (delta && w->hist != NULL) {
			hist_add(w->hist, h);
			json_decref(h);
		} else {
			json_decref(w->hist);
			w->hist = h;
		}
	} else if (delta && w->has_value && has) {
		w->value += v;
	} else {
		w->value = v;
		w->has_value = has;
	}
}

json_t *
jg_telemetry_fold_delta(const struct jg_telemetry_point *pts, size_t n, bool histogram,
			int64_t step_ns)
{
	struct window w = {0};
	json_t *points = json_array();

	for (size_t i = 0; i < n && points != NULL; i++)
		window_add(&w, points, histogram, 1, step_ns, pts[i].time_ns, 1, pts[i].value,
			   histogram ? json_deep_copy(pts[i].hist) : NULL);
	if (points != NULL)
		flush(&w, points, histogram);
	json_decref(w.hist);
	return points;
}

/* Reads the rows of st into metrics: one entry per kind, one series per attribute set. */
static int
fold_series(struct jg_stmt *st, const struct jg_telemetry_metrics_query *q, json_t *metrics)
{
	json_t *metric = NULL, *series = NULL, *points = NULL;
	char cur_kind[16] = "", *cur_series = NULL;
	int histogram = 0, delta = 0, s;
	size_t rows = 0;
	struct window w = {0};

	while ((s = jg_stmt_step(st)) == JG_STMT_ROW) {
		if (++rows > JG_TELEMETRY_METRIC_POINTS_MAX)
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
			metric = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:[]}", "name", q->name,
					   "kind", kind, "unit", jg_stmt_column_text(st, 1),
					   "description", jg_stmt_column_text(st, 2), "temporality",
					   jg_stmt_column_text(st, 3), "monotonic",
					   (int)jg_stmt_column_int64(st, 4), "series");
			json_array_append_new(metrics, metric);
		}
		if (cur_series == NULL || strcmp(ser, cur_series) != 0) {
			flush(&w, points, histogram);
			free(cur_series);
			cur_series = strdup(ser);
			json_t *attrs = json_loads(ser, 0, NULL);
			if (attrs == NULL || cur_series == NULL ||
			    (q->redact && jg_telemetry_redact_json(attrs, q->fields, NULL) != 0)) {
				/* fail closed: nothing half redacted is shown */
				json_decref(attrs);
				s = JG_ENOMEM;
				break;
			}
			points = json_array();
			series = json_pack("{s:o,s:o}", "attributes", attrs, "points", points);
			json_array_append_new(json_object_get(metric, "series"), series);
		}
		json_t *h = NULL;
		if (histogram && (h = json_loads(jg_stmt_column_text(st, 8), 0, NULL)) == NULL) {
			s = JG_ESTORE;
			break;
		}
		window_add(&w, points, histogram, delta, q->step_ns, t,
			   !jg_stmt_column_is_null(st, 7), jg_stmt_column_double(st, 7), h);
	}
	if (s == JG_STMT_DONE)
		flush(&w, points, histogram);
	json_decref(w.hist);
	free(cur_series);
	if (rows > JG_TELEMETRY_METRIC_POINTS_MAX)
		return JG_ETOOBIG;
	return s == JG_STMT_DONE ? 0 : JG_ESTORE;
}

int
jg_telemetry_metric_series(struct jg_store *db, const struct jg_telemetry_metrics_query *q,
			   json_t **metrics)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	*metrics = NULL;
	if (db == NULL || jg_store_acquire(db, &conn) != 0)
		return JG_EUNAVAIL;
	json_t *list = json_array();
	rc = list == NULL ? JG_ENOMEM : jg_stmt_prepare(conn, sql_points, &st) == 0 ? 0 : JG_ESTORE;
	if (rc == 0) {
		jg_stmt_bind_text(st, 1, q->service);
		jg_stmt_bind_text(st, 2, q->name);
		jg_stmt_bind_int64(st, 3, q->since);
		jg_stmt_bind_int64(st, 4, q->until);
		jg_stmt_bind_int64(st, 5, q->received_since);
		rc = fold_series(st, q, list);
		jg_stmt_finish(st);
	}
	jg_store_release(db, conn);
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	*metrics = list;
	return 0;
}
