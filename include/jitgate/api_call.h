/*
 * api_call.h - what the JSON API handlers and the web pages share, so a
 * form in the browser takes exactly the code path (and the checks) of the
 * same call made with curl.
 *
 *   jg_api_call_begin()    authenticate (bearer, or session + CSRF for
 *                          changes), borrow the policy set in force, build
 *                          the access context for access.c
 *   jg_api_request_create() a new access request, after the caller's
 *                          new-request limits: POST /v1/requests and the
 *                          request form's submit draw on the same buckets
 *   jg_api_status()        an access.c result as an HTTP status and code
 *   jg_api_audit_export()  GET /v1/audit/export after the caller was
 *                          checked (api_audit.c)
 */
#ifndef JITGATE_API_CALL_H
#define JITGATE_API_CALL_H

#include <stddef.h>

#include <jansson.h>

#include "jitgate/access.h"
#include "jitgate/app.h"
#include "jitgate/auth.h"
#include "jitgate/http.h"
#include "jitgate/report.h"

struct jg_api_call {
	struct jg_caller who;
	struct jg_access_caller caller; /* points into who */
	struct jg_access_ctx ctx;	/* holds the policy read lock until _end */
	struct jg_app *app;
	int have_policies;
};

/*
 * Authenticates the caller of req (jg_auth_require()) and fills *c.
 * Returns 0, or a JG_E* code with reply filled (401, 403, 503).  Always
 * pair with jg_api_call_end(), also after a failure.
 */
int jg_api_call_begin(struct jg_http_request *req, struct jg_http_reply *reply,
		      struct jg_api_call *c) __attribute__((warn_unused_result));
/* Releases the policy set and wipes the caller. */
void jg_api_call_end(struct jg_api_call *c);

/*
 * A new access request of c's caller from req's address: the new-request
 * limits (throttle.h, per identity and per address), then
 * jg_access_create() with body (borrowed).  Returns jg_access_create()'s
 * result (and *out, why as it sets them), or JG_ELIMITED with *limit filled
 * when a limit is spent (nothing was evaluated, stored or audited).  A dry
 * run is not a new request: call jg_access_dry_run() for it.
 */
int jg_api_request_create(struct jg_api_call *c, struct jg_http_request *req, json_t *body,
			  json_t **out, struct jg_throttle_refusal *limit, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/*
 * An extension of grant id asked by c's caller from req's address: the
 * same new-request limits, then jg_access_extend() with body (borrowed).
 */
int jg_api_request_extend(struct jg_api_call *c, struct jg_http_request *req, const char *id,
			  json_t *body, json_t **out, struct jg_throttle_refusal *limit, char *why,
			  size_t whylen);

/* An access.c result: the HTTP status (JG_ELIMITED: 429), and the error code name in *code. */
int jg_api_status(int rc, const char **code);

/*
 * The export of GET /v1/audit/export?from=&to= (query of req) for actor,
 * who was checked to be an auditor: the query parsed, then
 * jg_audit_export_audited() (the export records itself), then the JSON
 * Lines reply.
 */
void jg_api_audit_export(struct jg_http_request *req, struct jg_http_reply *reply,
			 const char *actor);

/*
 * Who may read which access report (api_reports.c): authenticates req's
 * caller into *caller, checks that it is an auditor or, for the service
 * named by the query's `service`, one of its owners, and parses `from` and
 * `to` (Unix seconds; to defaults to now, from to reports.review_period
 * before to) into *q (q->service points into req's query).  Returns 0
 * (then the caller clears *caller), or a JG_E* code with reply filled
 * (400, 401, 403, 503).
 */
int jg_api_report_query(struct jg_http_request *req, struct jg_http_reply *reply,
			struct jg_report_query *q, struct jg_caller *caller)
    __attribute__((warn_unused_result));
/* A jg_report_access() failure as the reply (400 report_too_large, 503, ...). */
void jg_api_report_error(struct jg_http_reply *reply, int rc);

#endif
