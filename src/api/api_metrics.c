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
 * telemetry module's (jg_telemetry_metric_names, jg_telemetry_metric_series),
 * except for the metric probe.<id> of a metric probe, whose points are its
 * events in the state store (jg_probe_metric_names, jg_probe_metric_read;
 * docs/agents.md, "Metric probes").
 * The checks, the guard and the read are jg_api_metrics_read() (api_read.h),
 * which the metrics page of the browser (web_metrics.c) calls too with the
 * token kept for its session: the handler only renders its result or error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_routes_int.h"
#include "api_telemetry_int.h"
#include "jitgate/api_read.h"
#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/probes.h"
#include "jitgate/telemetry.h"

#define MAX_NAME 255
/* the metric of a metric probe: "probe.<id>" (docs/agents.md, "Probe kinds") */
#define PROBE_PREFIX "probe."
#define MIN_STEP_NS  1000000000LL

/* ?step=: a duration of at least 1s; absent: 0 (every point). */
static int
step_arg(const struct jg_http_request *req, struct jg_api_error *e, int64_t *step_ns)
{
	int rc = jg_tq_duration_e(req, e, "step", 0, step_ns);

	if (rc == 0 && jg_http_query(req, "step") != NULL && *step_ns < MIN_STEP_NS) {
		jg_api_error_set(e, 400, "bad_request", "'step' must be at least 1s");
		return JG_EINVAL;
	}
	return rc;
}

int
jg_api_metrics_read(struct jg_http_request *req, const char *service, const char *name,
		    const char *authorization, json_t **result, struct jg_api_error *e)
{
	struct jg_app *app = req->app;
	struct jg_telemetry_metrics_query q = {
	    .service = service, .name = name, .fields = app->cfg->redaction_sensitive_fields};
	struct jg_guarded g;
	struct jg_guard_refusal no;
	int rc;

	*result = NULL;
	memset(e, 0, sizeof(*e));
	if ((rc = jg_tq_window_e(req, e, &q.since, &q.until)) != 0 ||
	    (rc = step_arg(req, e, &q.step_ns)) != 0)
		return rc;
	/*
	 * The name goes into the audit entry as a JSON string, which holds only
	 * UTF-8: other bytes are the caller's error (400), not an encoder's (the
	 * NULL params were once answered as a 500 "out of memory").
	 */
	json_t *namej = name ? json_string(name) : NULL;
	if (name != NULL && (*name == '\0' || strlen(name) > MAX_NAME || namej == NULL)) {
		jg_api_error_set(e, 400, "bad_request", "'name' must be 1 to %d bytes of UTF-8",
				 MAX_NAME);
		json_decref(namej);
		return JG_EINVAL;
	}
	/*
	 * A metric probe's points (probe.<id>) on personal data are read with
	 * read-pii too: asked before the guard, which then refuses a token
	 * without it (recorded as a refusal, like a deploy of such a probe).
	 */
	const char *probe = name != NULL &&
				    strncmp(name, PROBE_PREFIX, strlen(PROBE_PREFIX)) == 0 &&
				    jg_probe_id_valid(name + strlen(PROBE_PREFIX))
				? name + strlen(PROBE_PREFIX)
				: NULL;
	bool sensitive = false;
	if (probe != NULL) {
		rc = jg_probe_metric_sensitive(app->store, service, probe, q.fields, &sensitive);
		if (rc == JG_ENOTFOUND) {
			probe = NULL; /* no metric probe: a telemetry metric of that name */
		} else if (rc != 0) {
			json_decref(namej);
			jg_api_error_set(e, 503, "unavailable", "the store is unavailable");
			return JG_EUNAVAIL;
		}
	}
	json_t *params =
	    json_pack("{s:o?,s:I,s:I,s:I}", "name", namej, "since", (json_int_t)q.since, "until",
		      (json_int_t)q.until, "step_ns", (json_int_t)q.step_ns);
	rc = jg_guard_authorized_pii(&app->guard, req, authorization, service, "read-metrics",
				     "metrics.read", params,
				     sensitive ? "the metric probe's conditions or field are on "
						 "personal data: reading its points needs the "
						 "read-pii capability"
					       : NULL,
				     &g, &no);
	json_decref(params);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0) {
		jg_api_error_guard(e, &no);
		return rc;
	}

	json_t *metrics = NULL;
	q.redact = !g.has_pii;
	q.received_since =
	    jg_telemetry_received_since(app->cfg, JG_TELEMETRY_METRICS, (int64_t)time(NULL));
	/* a metric probe's points are its events in the state store (probes.h) */
	struct jg_probe_metric_query pq = {.service = service,
					   .since = q.since,
					   .until = q.until,
					   .step_ns = q.step_ns,
					   .redact = q.redact,
					   .sensitive_fields = q.fields};
	bool of_store = probe != NULL; /* what failed, if anything: the state store */
	if (probe != NULL) {
		rc = jg_probe_metric_read(app->store, &pq, probe, &metrics);
	} else if (name != NULL) {
		rc = jg_telemetry_metric_series(app->telemetry, &q, &metrics);
	} else {
		rc = jg_telemetry_metric_names(app->telemetry, service, q.since, q.until,
					       q.received_since, &metrics);
		if (rc == 0 && (rc = jg_probe_metric_names(app->store, &pq, metrics)) != 0) {
			json_decref(metrics);
			metrics = NULL;
			of_store = true;
		}
	}
	if (rc == JG_ENOTFOUND) {
		/* deleted since it was asked about: a name with no point, as any unknown name */
		metrics = json_array();
		rc = metrics ? 0 : JG_ENOMEM;
	}
	if (rc == JG_EDENIED) {
		/* it became sensitive since (the configured fields changed): still fail closed */
		jg_api_error_set(e, 403, "forbidden",
				 "the metric probe's conditions or field are on personal data: "
				 "reading its points needs the read-pii capability");
		return rc;
	}
	if (rc == JG_EUNAVAIL) {
		/* a metric probe's points (and names) are the state store's */
		jg_api_error_set(e, 503, "unavailable", "%s",
				 of_store ? "the store is unavailable"
					  : "the telemetry store is unavailable");
		return rc;
	}
	if (rc == JG_ETOOBIG) {
		jg_api_error_set(e, 400, "too_many_points",
				 "more than %d data points in the window: narrow since/until",
				 probe != NULL ? JG_PROBE_METRIC_POINTS_MAX
					       : JG_TELEMETRY_METRIC_POINTS_MAX);
		return rc;
	}
	if (rc != 0) {
		jg_api_error_set(e, 503, "unavailable", "the metrics cannot be read now");
		return JG_EUNAVAIL;
	}
	json_t *out = json_pack("{s:s,s:b,s:o}", "service", service, "redacted", q.redact,
				"metrics", metrics);
	if (out == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	if (name != NULL)
		json_object_set_new(out, "name", json_string(name));
	json_object_set_new(out, "step_seconds",
			    q.step_ns ? json_integer((json_int_t)(q.step_ns / 1000000000LL))
				      : json_null());
	*result = out;
	return 0;
}

static void
handle_metrics(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	json_t *result = NULL;
	int rc = jg_api_metrics_read(req, jg_http_param(req, "svc"), jg_http_query(req, "name"),
				     jg_http_header(req, "Authorization"), &result, &e);

	if (rc == JG_EDEFERRED)
		return;
	if (rc != 0) {
		jg_api_error_reply(reply, &e);
		return;
	}
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(reply, 200, result);
}

static const struct jg_route routes[] = {
    {"GET", "/v1/services/{svc}/metrics", handle_metrics, NULL, 0},
};
const struct jg_route_table jg_api_metrics_routes = {routes, sizeof(routes) / sizeof(routes[0])};
