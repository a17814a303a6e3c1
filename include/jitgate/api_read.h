/*
 * api_read.h - the guarded reads as functions the JSON API and the web
 * pages share, so a debugging page takes exactly the code path of the same
 * call made with curl: the arguments checked, the guard run (token
 * verified, grant re-read, anchor proven, the read's audit entry durable
 * before anything is read), then the read.
 *
 * A read function takes the request (its query string holds the
 * arguments, named as the API names them; its address is the throttle's
 * key), the service, and the Authorization value to present - the API
 * passes the request's header, a page the token jitgate keeps for its
 * session (session_grant.h).  It writes no reply: 0 with the result JSON
 * (what the API answers with 200), or an error *e that the API renders with
 * jg_api_error_reply() (the same status, code, message and headers as
 * before) and a page as HTML.  On the event loop (an inline route) it may
 * return JG_EDEFERRED, as jg_guard() does; the pages run on worker threads
 * and never see it.
 */
#ifndef JITGATE_API_READ_H
#define JITGATE_API_READ_H

#include <jansson.h>

#include "jitgate/guard.h"
#include "jitgate/http.h"

/* Why a read was refused, as the API says it. */
struct jg_api_error {
	int status;	   /* 400, 401, 403, 429, 503, ... */
	const char *code;  /* the error code (static) */
	char message[512]; /* the error message */
	/* a 400 naming the body's field at fault ("field" in the JSON error); NULL: none.
	 * Borrowed from the body the call was given: render e before releasing it. */
	const char *field;
	int from_guard; /* the guard refused: guard holds its refusal as it is */
	struct jg_guard_refusal guard;
};

/* Sets e to status, code (static) and the formatted message. */
void jg_api_error_set(struct jg_api_error *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets e from a guard refusal (status, code, message; WWW-Authenticate or 429 kept). */
void jg_api_error_guard(struct jg_api_error *e, const struct jg_guard_refusal *no);

/* The reply the API gives for e: the JSON error, and the guard's headers where it refused. */
void jg_api_error_reply(struct jg_http_reply *reply, const struct jg_api_error *e);

/*
 * GET /v1/services/{service}/logs (docs/api.md): the arguments of req's
 * query (since, until, level, trace_id, q, limit, cursor), the guard for
 * read-logs recording logs.read, then the page of logs.  0 with *result a
 * new object {service, redacted, logs, next_cursor?} (the caller's);
 * JG_EDEFERRED; or a JG_E* code with *e filled (400 bad_request, the
 * guard's 401/403/429/503, 503 unavailable) and nothing read.
 */
int jg_api_logs_read(struct jg_http_request *req, const char *service, const char *authorization,
		     json_t **result, struct jg_api_error *e) __attribute__((warn_unused_result));

/*
 * GET /v1/services/{service}/traces (docs/api.md): the arguments of req's
 * query (since, until, status, min_duration, max_duration, limit,
 * attr=key:value repeated), the guard for read-traces recording traces.search (read-pii
 * needed as well for a filter on personal data), then the search.  0 with
 * *result a new object {service, redacted, traces, searched_since?} (the
 * caller's); JG_EDEFERRED; or a JG_E* code with *e filled (400
 * bad_request, the guard's 401/403/429/503, 503 unavailable) and nothing
 * read.  The search does not page: limit (at most 200) newest traces.
 */
int jg_api_traces_search_read(struct jg_http_request *req, const char *service,
			      const char *authorization, json_t **result, struct jg_api_error *e)
    __attribute__((warn_unused_result));

/*
 * GET /v1/services/{service}/traces/{trace_id} (docs/api.md, docs/traces.md):
 * trace_id (32 hex digits, else 404) and req's ?adjust_skew=, the guard
 * for read-traces recording traces.read, then the trace with its analysis.
 * 0 with *result a new object {trace_id, spans, analysis, ..., service,
 * redacted} (the caller's); JG_EDEFERRED; or a JG_E* code with *e filled
 * (400, 404 not_found, the guard's refusals, 422 trace_too_large or
 * trace_unreadable, 500, 503).
 */
int jg_api_trace_read(struct jg_http_request *req, const char *service, const char *trace_id,
		      const char *authorization, json_t **result, struct jg_api_error *e)
    __attribute__((warn_unused_result));

/*
 * GET /v1/services/{service}/metrics (docs/api.md): the arguments of req's
 * query (since, until, step) and name, the metric to read (the API passes
 * its ?name=; a page naming several metrics makes one read per name), the
 * guard for read-metrics recording metrics.read, then the read.  0 with
 * *result a new object {service, redacted, metrics, name?, step_seconds}
 * (the caller's): for a NULL name the service's metric names, else that
 * metric's series; JG_EDEFERRED; or a JG_E* code with *e filled (400
 * bad_request or too_many_points, the guard's 401/403/429/503, 503
 * unavailable) and nothing read.
 */
int jg_api_metrics_read(struct jg_http_request *req, const char *service, const char *name,
			const char *authorization, json_t **result, struct jg_api_error *e)
    __attribute__((warn_unused_result));

#endif
