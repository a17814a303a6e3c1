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
 * At most JG_TELEMETRY_METRIC_POINTS_MAX data points are read per call (400
 * past that: narrow the window).  Series attributes are redacted for a
 * reader without read-pii.  The reading, folding and redaction are the
 * telemetry module's (jg_telemetry_metric_names, jg_telemetry_metric_series).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_routes_int.h"
#include "api_telemetry_int.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/telemetry.h"

#define MAX_NAME    255
#define MIN_STEP_NS 1000000000LL

static void
handle_metrics(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc"), *name = jg_http_query(req, "name");
	struct jg_telemetry_metrics_query q = {
	    .service = svc, .name = name, .fields = app->cfg->redaction_sensitive_fields};
	struct jg_guarded g;

	if (jg_tq_window(req, reply, &q.since, &q.until) != 0 ||
	    jg_tq_duration(req, reply, "step", 0, &q.step_ns) != 0)
		return;
	if (jg_http_query(req, "step") != NULL && q.step_ns < MIN_STEP_NS) {
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
	json_t *params =
	    json_pack("{s:o?,s:I,s:I,s:I}", "name", namej, "since", (json_int_t)q.since, "until",
		      (json_int_t)q.until, "step_ns", (json_int_t)q.step_ns);
	if (jg_guard_params(&app->guard, req, reply, svc, "read-metrics", "metrics.read", params,
			    &g) != 0)
		return;

	json_t *metrics = NULL;
	q.redact = !g.has_pii;
	q.received_since =
	    jg_telemetry_received_since(app->cfg, JG_TELEMETRY_METRICS, (int64_t)time(NULL));
	int rc = name == NULL ? jg_telemetry_metric_names(app->telemetry, svc, q.since, q.until,
							  q.received_since, &metrics)
			      : jg_telemetry_metric_series(app->telemetry, &q, &metrics);
	if (rc == JG_EUNAVAIL) {
		jg_http_reply_error(reply, 503, "unavailable",
				    "the telemetry store is unavailable");
		return;
	}
	if (rc == JG_ETOOBIG) {
		jg_http_reply_error(reply, 400, "too_many_points",
				    "more than %d data points in the window: narrow since/until",
				    JG_TELEMETRY_METRIC_POINTS_MAX);
		return;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the metrics cannot be read now");
		return;
	}
	json_t *out =
	    json_pack("{s:s,s:b,s:o}", "service", svc, "redacted", q.redact, "metrics", metrics);
	if (name != NULL)
		json_object_set_new(out, "name", json_string(name));
	json_object_set_new(out, "step_seconds",
			    q.step_ns ? json_integer((json_int_t)(q.step_ns / 1000000000LL))
				      : json_null());
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(reply, 200, out);
}

static const struct jg_route routes[] = {
    {"GET", "/v1/services/{svc}/metrics", handle_metrics, NULL, 0},
};
const struct jg_route_table jg_api_metrics_routes = {routes, sizeof(routes) / sizeof(routes[0])};
