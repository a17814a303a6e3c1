/*
 * probe_metric.c - checks a metric probe's spec and points, and shows its
 * points as a metric (see probe_metric.h).  Pure: no store, no clock.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/otlp.h"
#include "jitgate/probe_metric.h"
#include "jitgate/redact.h"
#include "jitgate/telemetry.h"

/* OpenTelemetry's default explicit bucket boundaries (the SDK's aggregation spec). */
const double jg_probe_metric_bounds[JG_PROBE_METRIC_NBOUNDS] = {
    0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000};

/*
 * The calls one point may count: 2^32 (14 million a second over the longest
 * interval), so that the 10,000 points a probe can store add up without
 * overflow in any step window.
 */
#define COUNT_MAX (1LL << 32)

int
jg_probe_metric_parse(const json_t *spec, struct jg_probe_metric *out, char *why, size_t whylen)
{
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->interval_seconds = JG_PROBE_METRIC_INTERVAL;
	if (!json_is_object(spec)) {
		snprintf(why, whylen,
			 "a metric probe needs 'metric': {type: count} or {type: histogram, field: "
			 "a numeric argument such as 'amount'}");
		return JG_EINVAL;
	}
	json_object_foreach((json_t *)spec, key, v)
	{
		if (strcmp(key, "type") != 0 && strcmp(key, "field") != 0 &&
		    strcmp(key, "interval_seconds") != 0) {
			snprintf(why, whylen,
				 "'metric' has an unknown member '%.64s' (type, field, "
				 "interval_seconds)",
				 key);
			return JG_EINVAL;
		}
	}
	const char *type = json_string_value(json_object_get(spec, "type"));
	if (type == NULL || (strcmp(type, "count") != 0 && strcmp(type, "histogram") != 0)) {
		snprintf(why, whylen, "'metric.type' must be count or histogram");
		return JG_EINVAL;
	}
	out->histogram = strcmp(type, "histogram") == 0;
	v = json_object_get(spec, "field");
	if (!out->histogram && v != NULL) {
		snprintf(why, whylen,
			 "'metric.field' is for a histogram: a count counts the matching calls");
		return JG_EINVAL;
	}
	if (out->histogram) {
		const char *f = json_string_value(v);
		if (f == NULL || !jg_probe_template_path_valid(f, strlen(f))) {
			snprintf(why, whylen,
				 "a histogram needs 'metric.field': the numeric value to measure, "
				 "an argument's dotted path such as 'amount' (or 'return'), at "
				 "most %d bytes",
				 JG_PROBE_TEMPLATE_PATH_MAX);
			return JG_EINVAL;
		}
		snprintf(out->field, sizeof(out->field), "%s", f);
	}
	v = json_object_get(spec, "interval_seconds");
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > JG_PROBE_METRIC_INTERVAL_MAX) {
			snprintf(why, whylen,
				 "'metric.interval_seconds' must be 1 to %d (seconds between "
				 "points)",
				 JG_PROBE_METRIC_INTERVAL_MAX);
			return JG_EINVAL;
		}
		out->interval_seconds = json_integer_value(v);
	}
	return 0;
}

json_t *
jg_probe_metric_json(const struct jg_probe_metric *m)
{
	json_t *j = json_pack("{s:s,s:I}", "type", m->histogram ? "histogram" : "count",
			      "interval_seconds", (json_int_t)m->interval_seconds);
	if (j != NULL && m->histogram &&
	    json_object_set_new(j, "field", json_string(m->field)) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* A finite number. */
static bool
finite_number(const json_t *v, double *d)
{
	if (!json_is_number(v))
		return false;
	*d = json_number_value(v);
	return isfinite(*d);
}

/* An RFC 3339 time string into *ns. */
static bool
time_of(const json_t *v, int64_t *ns)
{
	const char *s = json_string_value(v);
	return s != NULL && json_string_length(v) <= 64 && jg_otlp_parse_rfc3339(s, ns) == 0;
}

/* Whether a histogram point's members (beyond start and count) hold together. */
static bool
histogram_valid(const json_t *pt, json_int_t count)
{
	const json_t *counts = json_object_get(pt, "counts");
	double sum, min, max;
	json_int_t total = 0;

	if (json_object_size(pt) != 6 || !finite_number(json_object_get(pt, "sum"), &sum) ||
	    !finite_number(json_object_get(pt, "min"), &min) ||
	    !finite_number(json_object_get(pt, "max"), &max) || min > max ||
	    !json_is_array(counts) || json_array_size(counts) != JG_PROBE_METRIC_BUCKETS)
		return false;
	for (size_t i = 0; i < JG_PROBE_METRIC_BUCKETS; i++) {
		const json_t *c = json_array_get(counts, i);
		if (!json_is_integer(c) || json_integer_value(c) < 0 ||
		    json_integer_value(c) > count - total)
			return false;
		total += json_integer_value(c);
	}
	return total == count;
}

/* An event id as agents make them: 32 lowercase hex digits. */
static bool
event_id_valid(const json_t *v)
{
	const char *s = json_string_value(v);
	return s != NULL && json_string_length(v) == 32 && strspn(s, "0123456789abcdef") == 32;
}

bool
jg_probe_metric_point_valid(const json_t *event, const struct jg_probe_metric *m,
			    const char *function, int64_t *time_ns)
{
	const char *key, *fn;
	json_t *v;
	int64_t start;

	/* exactly a point and the event's own bookkeeping, nothing captured */
	if (!json_is_object(event) || json_object_size(event) != 4 ||
	    !event_id_valid(json_object_get(event, "event_id")) ||
	    (fn = json_string_value(json_object_get(event, "function"))) == NULL ||
	    strcmp(fn, function) != 0 ||
	    json_string_length(json_object_get(event, "function")) != strlen(fn))
		return false;
	json_object_foreach((json_t *)event, key, v)
	{
		if (strcmp(key, "ts") != 0 && strcmp(key, "event_id") != 0 &&
		    strcmp(key, "function") != 0 && strcmp(key, "metric") != 0)
			return false;
	}
	const json_t *pt = json_object_get(event, "metric");
	const json_t *count = json_object_get(pt, "count");
	if (!time_of(json_object_get(event, "ts"), time_ns) || !json_is_object(pt) ||
	    !time_of(json_object_get(pt, "start"), &start) || start > *time_ns ||
	    !json_is_integer(count) || json_integer_value(count) < 1 ||
	    json_integer_value(count) > COUNT_MAX)
		return false;
	return m->histogram ? histogram_valid(pt, json_integer_value(count))
			    : json_object_size(pt) == 2;
}

/* By time, then in the order stored (the index). */
struct timed {
	struct jg_telemetry_point p;
	size_t index;
};

static int
by_time(const void *a, const void *b)
{
	const struct timed *x = a, *y = b;
	if (x->p.time_ns != y->p.time_ns)
		return x->p.time_ns < y->p.time_ns ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * A histogram's min, max and sum are values of calls (min = max = the value
 * when one call was counted): for a reader without read-pii each that is a
 * card number, as redaction sees numbers, is shown as its mark.
 */
static void
redact_values(json_t *points)
{
	static const char *const members[] = {"min", "max", "sum"};
	size_t i;
	json_t *p;

	json_array_foreach(points, i, p)
	{
		for (size_t k = 0; k < sizeof(members) / sizeof(members[0]); k++) {
			json_t *v = json_object_get(p, members[k]);
			if (json_is_number(v) && jg_redact_number_is_card(v, true, NULL))
				json_object_set_new(p, members[k],
						    json_string(JG_REDACT_MARK_CARD));
		}
	}
}

/* The histogram of point pt as the telemetry store keeps one (telemetry.h). */
static json_t *
stored_histogram(const json_t *pt)
{
	json_t *bounds = json_array();
	for (size_t i = 0; bounds != NULL && i < JG_PROBE_METRIC_NBOUNDS; i++)
		json_array_append_new(bounds, json_real(jg_probe_metric_bounds[i]));
	return json_pack("{s:O,s:O,s:O,s:O,s:o,s:O}", "count", json_object_get(pt, "count"), "sum",
			 json_object_get(pt, "sum"), "min", json_object_get(pt, "min"), "max",
			 json_object_get(pt, "max"), "bounds", bounds, "counts",
			 json_object_get(pt, "counts"));
}

int
jg_probe_metric_series(const struct jg_probe_metric *m, const char *name, const char *function,
		       const json_t *events, int64_t since, int64_t until, int64_t step_ns,
		       bool redact, json_t **metrics)
{
	size_t n = json_array_size(events), kept = 0;
	struct timed *t = calloc(n ? n : 1, sizeof(*t));
	int rc = 0;

	*metrics = NULL;
	if (t == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const json_t *ev = json_array_get(events, i);
		int64_t ns;
		if (!jg_probe_metric_point_valid(ev, m, function, &ns)) {
			rc = JG_ESTORE; /* jitgate stored only points: a row it did not write */
			break;
		}
		if (ns < since || ns >= until)
			continue;
		const json_t *pt = json_object_get(ev, "metric");
		t[kept].index = i;
		t[kept].p.time_ns = ns;
		t[kept].p.value = (double)json_integer_value(json_object_get(pt, "count"));
		if (m->histogram && (t[kept].p.hist = stored_histogram(pt)) == NULL)
			rc = JG_ENOMEM;
		kept++;
	}
	json_t *list = rc == 0 ? json_array() : NULL;
	if (rc == 0 && list == NULL)
		rc = JG_ENOMEM;
	if (rc == 0 && kept > 0) {
		qsort(t, kept, sizeof(*t), by_time);
		struct jg_telemetry_point *pts = calloc(kept, sizeof(*pts));
		for (size_t i = 0; pts != NULL && i < kept; i++)
			pts[i] = t[i].p;
		json_t *points =
		    pts ? jg_telemetry_fold_delta(pts, kept, m->histogram, step_ns) : NULL;
		free(pts);
		if (points != NULL && redact && m->histogram)
			redact_values(points);
		char desc[400];
		if (m->histogram)
			snprintf(desc, sizeof(desc), "jitgate metric probe: %s of %.200s", m->field,
				 function);
		else
			snprintf(desc, sizeof(desc), "jitgate metric probe: calls of %.200s",
				 function);
		json_t *metric =
		    points ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:[{s:{},s:o}]}", "name", name,
				       "kind", m->histogram ? "histogram" : "sum", "unit",
				       m->histogram ? "" : "{call}", "description", desc,
				       "temporality", "delta", "monotonic", 1, "series",
				       "attributes", "points", points)
			   : NULL;
		if (metric == NULL || json_array_append_new(list, metric) != 0)
			rc = JG_ENOMEM;
	}
	for (size_t i = 0; i < kept; i++)
		json_decref(t[i].p.hist);
	free(t);
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	*metrics = list;
	return 0;
}
