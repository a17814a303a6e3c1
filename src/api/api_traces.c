/*
 * api_traces.c - traces behind the guard (read-traces).
 *
 *   GET /v1/services/{svc}/traces?since=&until=&status=error&min_duration=
 *       &max_duration=&limit=&attr=key:value (repeatable)
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
 *
 * An attribute filter is an oracle for the value it compares, as a probe
 * condition is (pii.h): one on personal data - a key that names it, or a
 * value redaction would replace - needs read-pii as well, and the
 * traces.search entry holds each filter's value only as a keyed marker.
 * Only spans of svc are searched: the attributes of other services' spans
 * are withheld from this reader, so they must not be searchable either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_routes_int.h"
#include "api_telemetry_int.h"
#include "jitgate/api_read.h"
#include "jitgate/app.h"
#include "jitgate/canon.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/pii.h"
#include "jitgate/telemetry.h"
#include "jitgate/trace_analysis.h"

#define MAX_LIMIT     200
#define DEFAULT_LIMIT 50

static bool
covered(const char *service, void *ctx)
{
	return service != NULL && strcmp(service, (const char *)ctx) == 0;
}

int
jg_api_trace_read(struct jg_http_request *req, const char *service, const char *trace_id,
		  const char *authorization, json_t **result, struct jg_api_error *e)
{
	struct jg_app *app = req->app;
	char tid[33], why[256];
	bool adjust;
	struct jg_guarded g;
	struct jg_guard_refusal no;
	int rc;

	*result = NULL;
	memset(e, 0, sizeof(*e));
	if (!jg_tq_trace_id(trace_id, tid)) {
		jg_api_error_set(e, 404, "not_found", "no such trace: a trace id is 32 hex digits");
		return JG_ENOTFOUND;
	}
	if ((rc = jg_tq_bool_e(req, e, "adjust_skew", &adjust)) != 0)
		return rc;
	json_t *params = json_pack("{s:s,s:b}", "trace_id", tid, "adjust_skew", adjust);
	if (params == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	rc = jg_guard_authorized(&app->guard, req, authorization, service, "read-traces",
				 "traces.read", params, &g, &no);
	json_decref(params);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0) {
		jg_api_error_guard(e, &no);
		return rc;
	}

	bool redact = !g.has_pii;
	json_t *spans = NULL;
	int64_t since =
	    jg_telemetry_received_since(app->cfg, JG_TELEMETRY_TRACES, (int64_t)time(NULL));
	rc = jg_telemetry_trace(app->telemetry, service, tid, since, redact,
				app->cfg->redaction_sensitive_fields, &spans);
	if (rc == JG_EUNAVAIL) {
		jg_api_error_set(e, 503, "unavailable", "the telemetry store is unavailable");
		return rc;
	}
	if (rc == JG_ESTORE) {
		jg_api_error_set(e, 503, "unavailable", "the trace cannot be read now");
		return JG_EUNAVAIL;
	}
	if (rc == JG_ENOTFOUND) {
		jg_api_error_set(e, 404, "not_found", "no trace %s with spans of %s", tid, service);
		return rc;
	}
	if (rc != 0) {
		/* fail closed: nothing half redacted is shown */
		jg_api_error_set(e, 500, "internal_error",
				 "the trace could not be redacted; nothing is shown");
		return rc;
	}
	json_t *out = NULL;
	rc = jg_trace_analyze(spans, covered, (void *)service, adjust, &out, why, sizeof(why));
	json_decref(spans);
	if (rc == JG_ETOOBIG) {
		jg_api_error_set(e, 422, "trace_too_large", "the trace has more than %d spans",
				 JG_TRACE_MAX_SPANS);
		return rc;
	}
	if (rc != 0) {
		jg_api_error_set(e, 422, "trace_unreadable", "the trace cannot be analysed: %s",
				 why);
		return JG_EINVAL;
	}
	json_object_set_new(out, "service", json_string(service));
	json_object_set_new(out, "redacted", json_boolean(redact));
	*result = out;
	return 0;
}

static void
handle_trace(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	json_t *result = NULL;
	int rc = jg_api_trace_read(req, jg_http_param(req, "svc"), jg_http_param(req, "trace_id"),
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

/* The attribute filters of a search, copied out of the query string. */
struct attr_args {
	struct jg_telemetry_attr attrs[JG_TELEMETRY_ATTR_MAX];
	char text[JG_TELEMETRY_ATTR_MAX]
		 [JG_TELEMETRY_ATTR_KEY_MAX + JG_TELEMETRY_ATTR_VALUE_MAX + 2];
	size_t n;
};

/*
 * Reads every ?attr=key:value (split at the first colon: a key holds none,
 * a value may).  A bad one fills *e with a 400 and returns JG_EINVAL.
 */
static int
read_attrs(struct jg_http_request *req, struct jg_api_error *e, struct attr_args *a)
{
	const char *vals[JG_TELEMETRY_ATTR_MAX];
	size_t lens[JG_TELEMETRY_ATTR_MAX];

	if (jg_http_query_all(req, "attr", vals, lens, JG_TELEMETRY_ATTR_MAX, &a->n) != 0) {
		jg_api_error_set(e, 400, "bad_request", "'attr' may be given at most %d times",
				 JG_TELEMETRY_ATTR_MAX);
		return JG_EINVAL;
	}
	for (size_t i = 0; i < a->n; i++) {
		const char *colon = memchr(vals[i], ':', lens[i]);
		size_t klen = colon ? (size_t)(colon - vals[i]) : 0;
		if (colon == NULL || klen == 0 || klen > JG_TELEMETRY_ATTR_KEY_MAX ||
		    lens[i] - klen - 1 > JG_TELEMETRY_ATTR_VALUE_MAX ||
		    memchr(vals[i], '\0', lens[i]) != NULL || !jg_utf8_valid(vals[i], lens[i])) {
			jg_api_error_set(
			    e, 400, "bad_request",
			    "'attr' must be key:value in UTF-8 without NUL bytes: a key of 1 to %d "
			    "bytes without a colon, then a value of at most %d bytes",
			    JG_TELEMETRY_ATTR_KEY_MAX, JG_TELEMETRY_ATTR_VALUE_MAX);
			return JG_EINVAL;
		}
		memcpy(a->text[i], vals[i], lens[i]);
		a->text[i][klen] = '\0';
		a->text[i][lens[i]] = '\0';
		a->attrs[i].key = a->text[i];
		a->attrs[i].value = a->text[i] + klen + 1;
	}
	return 0;
}

/*
 * The first filter that compares personal data, or NULL: its key names it
 * (a probe condition's rule, pii.h, or the whole key is a configured
 * sensitive field, which redaction blanks) or its value is one redaction
 * would replace.
 */
static const struct jg_telemetry_attr *
attr_sensitive(const struct attr_args *a, char *const *fields)
{
	for (size_t i = 0; i < a->n; i++) {
		const char *key = a->attrs[i].key;
		bool touchy = jg_pii_field_sensitive(key, fields);
		for (size_t f = 0; !touchy && fields != NULL && fields[f] != NULL; f++)
			touchy = strcasecmp(key, fields[f]) == 0;
		json_t *v = json_string(a->attrs[i].value);
		touchy = touchy || v == NULL || jg_pii_value_sensitive(v);
		json_decref(v);
		if (touchy)
			return &a->attrs[i];
	}
	return NULL;
}

/* The filters as the entry records them: keys through jg_pii_string, values as whole markers. */
static json_t *
attr_params(const struct jg_pii_keys *keys, const struct attr_args *a)
{
	json_t *list = json_array();
	for (size_t i = 0; list != NULL && i < a->n; i++) {
		json_t *k = jg_pii_string(keys, a->attrs[i].key);
		json_t *v = jg_pii_mark_whole(keys, a->attrs[i].value, strlen(a->attrs[i].value));
		json_t *item = k && v ? json_pack("{s:o,s:o}", "key", k, "value", v) : NULL;
		if (item == NULL || json_array_append_new(list, item) != 0) {
			if (item == NULL) {
				json_decref(k);
				json_decref(v);
			}
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

int
jg_api_traces_search_read(struct jg_http_request *req, const char *service,
			  const char *authorization, json_t **result, struct jg_api_error *e)
{
	struct jg_app *app = req->app;
	const char *status = jg_http_query(req, "status");
	struct jg_telemetry_traces_query q = {.service = service};
	struct attr_args a;
	uint64_t limit;
	struct jg_guarded g;
	struct jg_guard_refusal no;
	char why[400] = "";
	int rc;

	*result = NULL;
	memset(e, 0, sizeof(*e));
	if ((rc = jg_tq_window_e(req, e, &q.since, &q.until)) != 0 ||
	    (rc = jg_tq_duration_e(req, e, "min_duration", 0, &q.min_duration_ns)) != 0 ||
	    (rc = jg_tq_duration_e(req, e, "max_duration", 0, &q.max_duration_ns)) != 0 ||
	    (rc = jg_tq_u64_e(req, e, "limit", DEFAULT_LIMIT, MAX_LIMIT, &limit)) != 0 ||
	    (rc = read_attrs(req, e, &a)) != 0)
		return rc;
	if (limit == 0) {
		jg_api_error_set(e, 400, "bad_request", "'limit' must be 1 to %d", MAX_LIMIT);
		return JG_EINVAL;
	}
	if (status != NULL && strcmp(status, "error") != 0 && strcmp(status, "any") != 0) {
		jg_api_error_set(e, 400, "bad_request", "'status' must be error or any");
		return JG_EINVAL;
	}
	if (jg_http_query(req, "max_duration") != NULL &&
	    (q.max_duration_ns <= 0 || q.max_duration_ns < q.min_duration_ns)) {
		/* 0 is the store's "no bound": a longest duration of 0 is refused, not ignored */
		jg_api_error_set(e, 400, "bad_request",
				 "'max_duration' must be more than 0 and at least 'min_duration'");
		return JG_EINVAL;
	}
	q.limit = (size_t)limit;
	q.errors_only = status != NULL && strcmp(status, "error") == 0;
	q.attrs = a.attrs;
	q.nattrs = a.n;
	const struct jg_telemetry_attr *touchy =
	    attr_sensitive(&a, app->cfg->redaction_sensitive_fields);
	if (touchy != NULL) {
		/* the key named, cut to 100 bytes at a character's start (the reply is UTF-8) */
		int n = (int)strnlen(touchy->key, 100);
		while (n > 0 && touchy->key[n] != '\0' &&
		       ((unsigned char)touchy->key[n] & 0xC0) == 0x80)
			n--;
		snprintf(
		    why, sizeof(why),
		    "the filter on '%.*s' compares personal data (a sensitive attribute, or a "
		    "value redaction would hide): searching by it needs the read-pii capability",
		    n, touchy->key);
	}
	json_t *params =
	    json_pack("{s:I,s:I,s:b,s:I,s:I}", "since", (json_int_t)q.since, "until",
		      (json_int_t)q.until, "errors_only", q.errors_only, "min_duration_ns",
		      (json_int_t)q.min_duration_ns, "limit", (json_int_t)limit);
	if (params != NULL && q.max_duration_ns > 0)
		json_object_set_new(params, "max_duration_ns", json_integer(q.max_duration_ns));
	if (params != NULL && a.n > 0) {
		/* the values searched for may be personal data: the entry keeps their markers */
		json_t *attrs = attr_params(app->pii_keys, &a);
		if (attrs == NULL || json_object_set_new(params, "attr", attrs) != 0) {
			json_decref(params);
			jg_api_error_set(e, 503, "unavailable",
					 "the search cannot be recorded; nothing was read");
			return JG_EUNAVAIL;
		}
	}
	if (params == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	rc = jg_guard_authorized_pii(&app->guard, req, authorization, service, "read-traces",
				     "traces.search", params, touchy ? why : NULL, &g, &no);
	json_decref(params);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0) {
		jg_api_error_guard(e, &no);
		return rc;
	}

	json_t *list = NULL;
	int64_t searched_since = -1;
	q.redact = !g.has_pii;
	q.received_since =
	    jg_telemetry_received_since(app->cfg, JG_TELEMETRY_TRACES, (int64_t)time(NULL));
	rc = jg_telemetry_traces_search(app->telemetry, &q, &list, &searched_since);
	if (rc == JG_EUNAVAIL) {
		jg_api_error_set(e, 503, "unavailable", "the telemetry store is unavailable");
		return rc;
	}
	if (rc != 0) {
		jg_api_error_set(e, 503, "unavailable", "the traces cannot be read now");
		return JG_EUNAVAIL;
	}
	json_t *out =
	    json_pack("{s:s,s:b,s:o}", "service", service, "redacted", q.redact, "traces", list);
	if (out == NULL) {
		jg_api_error_set(e, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	if (searched_since >= 0) {
		/* the filtered scan was bounded: older spans were not searched (until= goes on) */
		char when[JG_TELEMETRY_TIME_TEXT];
		jg_telemetry_time_text(searched_since, when);
		json_object_set_new(out, "searched_since", json_string(when));
		json_object_set_new(out, "searched_since_unix_nano",
				    jg_telemetry_ns_string(searched_since));
	}
	*result = out;
	return 0;
}

static void
handle_search(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_api_error e;
	json_t *result = NULL;
	int rc = jg_api_traces_search_read(req, jg_http_param(req, "svc"),
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
    {"GET", "/v1/services/{svc}/traces", handle_search, NULL, 0},
    {"GET", "/v1/services/{svc}/traces/{trace_id}", handle_trace, NULL, 0},
};
const struct jg_route_table jg_api_traces_routes = {routes, sizeof(routes) / sizeof(routes[0])};
