/*
 * probe_metric.h - metric probes (docs/agents.md, "Probe kinds"): the agent
 * aggregates the calls a probe matches, a count or a histogram of one
 * numeric field, and sends one point per interval, never an argument value.
 * jitgate checks the probe's spec and each point, and shows the points as
 * the metric "probe.<id>" of the metrics API.  Pure: no store, no clock.
 *
 * A histogram uses OpenTelemetry's default explicit bucket boundaries
 * (JG_PROBE_METRIC_BOUNDS): bucket i counts the values v with
 * bounds[i-1] < v <= bounds[i], the last one those above the last bound.
 */
#ifndef JITGATE_PROBE_METRIC_H
#define JITGATE_PROBE_METRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/probe_template.h"

#define JG_PROBE_METRIC_NBOUNDS	     15
#define JG_PROBE_METRIC_BUCKETS	     (JG_PROBE_METRIC_NBOUNDS + 1)
#define JG_PROBE_METRIC_INTERVAL     10	 /* seconds between an agent's points, by default */
#define JG_PROBE_METRIC_INTERVAL_MAX 300 /* and at most */

extern const double jg_probe_metric_bounds[JG_PROBE_METRIC_NBOUNDS];

struct jg_probe_metric {
	bool histogram;				    /* else a count */
	char field[JG_PROBE_TEMPLATE_PATH_MAX + 1]; /* a histogram's value: an argument path, or
						       "return"; "" for a count */
	int64_t interval_seconds;
};

/*
 * Parses a probe's "metric" member: {type: count|histogram, field (a
 * histogram's, a path as a template placeholder's), interval_seconds
 * (1-300, default 10)}.  0, or JG_EINVAL with why (a sentence).
 */
int jg_probe_metric_parse(const json_t *spec, struct jg_probe_metric *out, char *why,
			  size_t whylen);

/* The spec as stored and listed, defaults filled in (caller decrefs; NULL: out of memory). */
json_t *jg_probe_metric_json(const struct jg_probe_metric *m);

/*
 * Whether event is a point of metric m on function: exactly {ts, event_id
 * (32 lowercase hex digits), function (the probe's), metric: {start, count,
 * and for a histogram sum, min, max, counts}} (no captured value, no
 * message), ts and start RFC 3339 times with start <= ts, count 1 to 2^32,
 * a histogram's finite sum, min <= max and JG_PROBE_METRIC_BUCKETS counts
 * adding up to count.  *time_ns: ts.
 */
bool jg_probe_metric_point_valid(const json_t *event, const struct jg_probe_metric *m,
				 const char *function, int64_t *time_ns);

/*
 * The metric "probe.<id>" (name) of probe on function from its stored
 * points (events, each valid as above), keeping those with since <= ts <
 * until: [{name, kind: sum (a count) or histogram, unit, description,
 * temporality: delta, monotonic: true, series: [{attributes: {}, points}]}]
 * as jg_telemetry_metric_series gives (telemetry.h), with step_ns one point
 * per window; with redact (a reader without read-pii) a histogram's min,
 * max and sum that are card numbers shown as "[REDACTED:card]".  An empty
 * list when no point is in the window.  0, JG_ESTORE (a stored point that
 * is not one), JG_ENOMEM.
 */
int jg_probe_metric_series(const struct jg_probe_metric *m, const char *name, const char *function,
			   const json_t *events, int64_t since, int64_t until, int64_t step_ns,
			   bool redact, json_t **metrics);

#endif
