/*
 * metric.c - a metric probe's aggregate in the agent (docs/agents.md,
 * "Probe kinds"): the calls it matches counted, or one numeric field of
 * theirs put in a histogram with OpenTelemetry's default explicit buckets,
 * and one point per interval, the values themselves never leaving the
 * process.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* OpenTelemetry's default explicit bucket boundaries (jitgate's probe_metric.h, the same). */
static const double bounds[JGA_METRIC_BUCKETS - 1] = {0,   5,	10,   25,   50,	  75,	100,  250,
						      500, 750, 1000, 2500, 5000, 7500, 10000};

#define INTERVAL_MAX 300

int
jga_metric_parse(const json_t *spec, struct jga_metric *m)
{
	const char *type = json_string_value(json_object_get(spec, "type"));
	const char *field = json_string_value(json_object_get(spec, "field"));
	json_t *iv = json_object_get(spec, "interval_seconds");

	memset(m, 0, sizeof(*m));
	if (!json_is_object(spec) || type == NULL)
		return -1;
	if (strcmp(type, "histogram") == 0) {
		if (field == NULL || !jga_path_valid(field, strlen(field)))
			return -1;
		m->histogram = true;
		snprintf(m->field, sizeof(m->field), "%s", field);
	} else if (strcmp(type, "count") != 0 || json_object_get(spec, "field") != NULL) {
		return -1;
	}
	m->interval_ms = 10000;
	if (iv != NULL) {
		if (!json_is_integer(iv) || json_integer_value(iv) < 1 ||
		    json_integer_value(iv) > INTERVAL_MAX)
			return -1;
		m->interval_ms = (long)json_integer_value(iv) * 1000L;
	}
	return 0;
}

/* The value a histogram measures for a call: an argument's path, or "return[.path]". */
static const json_t *
measured(const struct jga_metric *m, const json_t *args, const json_t *ret)
{
	if (strcmp(m->field, "return") == 0)
		return ret;
	if (strncmp(m->field, "return.", 7) == 0)
		return ret ? jga_resolve(ret, m->field + 7) : NULL;
	return args ? jga_resolve(args, m->field) : NULL;
}

bool
jga_metric_record(struct jga_metric *m, const json_t *args, const json_t *ret,
		  const struct timespec *now)
{
	double v = 0;

	if (m->histogram) {
		const json_t *x = measured(m, args, ret);
		if (!json_is_number(x) || !isfinite(json_number_value(x))) {
			m->skipped++;
			return false;
		}
		v = json_number_value(x);
		/* a sum past the largest double would leave no point to send: not counted */
		if (!isfinite(m->sum + v)) {
			m->skipped++;
			return false;
		}
	}
	if (m->count == 0) {
		m->opened = *now;
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		m->start_ns = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec;
	}
	m->count++;
	if (m->histogram) {
		size_t b = 0;
		while (b < JGA_METRIC_BUCKETS - 1 && v > bounds[b])
			b++;
		m->counts[b]++;
		m->sum += v;
		if (m->count == 1 || v < m->min)
			m->min = v;
		if (m->count == 1 || v > m->max)
			m->max = v;
	}
	return true;
}

bool
jga_metric_due(const struct jga_metric *m, const struct timespec *now)
{
	if (m->count == 0)
		return false;
	int64_t ms = (int64_t)(now->tv_sec - m->opened.tv_sec) * 1000 +
		     (now->tv_nsec - m->opened.tv_nsec) / 1000000L;
	return ms >= m->interval_ms;
}

/* Unix ns as RFC 3339 UTC with milliseconds. */
static void
rfc3339(int64_t ns, char out[32])
{
	time_t s = (time_t)(ns / 1000000000LL);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ns % 1000000000LL / 1000000LL));
}

json_t *
jga_metric_take(struct jga_metric *m)
{
	char start[32];
	json_t *pt;

	rfc3339(m->start_ns, start);
	if (m->histogram) {
		json_t *counts = json_array();
		for (size_t i = 0; counts != NULL && i < JGA_METRIC_BUCKETS; i++)
			json_array_append_new(counts, json_integer(m->counts[i]));
		pt = json_pack("{s:s,s:I,s:f,s:f,s:f,s:o}", "start", start, "count",
			       (json_int_t)m->count, "sum", m->sum, "min", m->min, "max", m->max,
			       "counts", counts);
	} else {
		pt = json_pack("{s:s,s:I}", "start", start, "count", (json_int_t)m->count);
	}
	if (pt == NULL)
		return NULL;
	/* the next point starts from nothing; the spec stays */
	m->count = 0;
	m->sum = m->min = m->max = 0;
	memset(m->counts, 0, sizeof(m->counts));
	return pt;
}
