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
 * without read-pii gets names, error messages, attributes, events and
 * instance names redacted by the telemetry module (jg_telemetry_trace)
 * before the analysis sees them, so nothing derived from them leaks either.
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
#include "jitgate/trace_analysis.h"

#define MAX_LIMIT     200
#define DEFAULT_LIMIT 50

static bool
covered(const char *service, void *ctx)
{
	return service != NULL && strcmp(service, (const char *)ctx) == 0;
}

static void
handle_trace(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	const char *svc = jg_http_param(req, "svc");
	char tid[33], why[256];
	bool adjust;
	struct jg_guarded g;

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

	bool redact = !g.has_pii;
	json_t *spans = NULL;
	int64_t since =
	    jg_telemetry_received_since(app->cfg, JG_TELEMETRY_TRACES, (int64_t)time(NULL));
	int rc = jg_telemetry_trace(app->telemetry, svc, tid, since, redact,
				    app->cfg->redaction_sensitive_fields, &spans);
	if (rc == JG_EUNAVAIL) {
		jg_http_reply_error(reply, 503, "unavailable",
				    "the telemetry store is unavailable");
		return;
	}
	if (rc == JG_ESTORE) {
		jg_http_reply_error(reply, 503, "unavailable", "the trace cannot be read now");
		return;
	}
	if (rc == JG_ENOTFOUND) {
		jg_http_reply_error(reply, 404, "not_found", "no trace %s with spans of %s", tid,
				    svc);
		return;
	}
	if (rc != 0) {
		/* fail closed: nothing half redacted is shown */
		jg_http_reply_error(reply, 500, "internal_error",
				    "the trace could not be redacted; nothing is shown");
		return;
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
	struct jg_telemetry_traces_query q = {.service = svc};
	uint64_t limit;
	struct jg_guarded g;

	if (jg_tq_window(req, reply, &q.since, &q.until) != 0 ||
	    jg_tq_duration(req, reply, "min_duration", 0, &q.min_duration_ns) != 0 ||
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
	q.limit = (size_t)limit;
	q.errors_only = status != NULL && strcmp(status, "error") == 0;
	json_t *params =
	    json_pack("{s:I,s:I,s:b,s:I,s:I}", "since", (json_int_t)q.since, "until",
		      (json_int_t)q.until, "errors_only", q.errors_only, "min_duration_ns",
		      (json_int_t)q.min_duration_ns, "limit", (json_int_t)limit);
	if (jg_guard_params(&app->guard, req, reply, svc, "read-traces", "traces.search", params,
			    &g) != 0)
		return;

	json_t *list = NULL;
	q.redact = !g.has_pii;
	q.received_since =
	    jg_telemetry_received_since(app->cfg, JG_TELEMETRY_TRACES, (int64_t)time(NULL));
	int rc = jg_telemetry_traces_search(app->telemetry, &q, &list);
	if (rc == JG_EUNAVAIL) {
		jg_http_reply_error(reply, 503, "unavailable",
				    "the telemetry store is unavailable");
		return;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable", "the traces cannot be read now");
		return;
	}
	jg_http_reply_header(reply, "Cache-Control", "no-store");
	jg_http_reply_json(
	    reply, 200,
	    json_pack("{s:s,s:b,s:o}", "service", svc, "redacted", q.redact, "traces", list));
}

static const struct jg_route routes[] = {
    {"GET", "/v1/services/{svc}/traces", handle_search, NULL, 0},
    {"GET", "/v1/services/{svc}/traces/{trace_id}", handle_trace, NULL, 0},
};
const struct jg_route_table jg_api_traces_routes = {routes, sizeof(routes) / sizeof(routes[0])};
