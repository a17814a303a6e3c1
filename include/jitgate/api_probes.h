/*
 * api_probes.h - the probe calls as functions the JSON API and the probes
 * page of the browser share (api_read.h explains the shape): deploy, list,
 * remove, and read a probe's captured events.  Each checks its arguments,
 * runs the guard for deploy-probe with the Authorization given (the API's
 * header, or the token a page keeps for its session) so the call's audit
 * entry is durable before anything happens, then acts.  None writes a
 * reply: 0 with the result JSON (what the API answers with 201 or 200), or
 * a JG_E* code with *e as the API answers it (jg_api_error_reply()).  On
 * the event loop each may return JG_EDEFERRED, as jg_guard() does.
 */
#ifndef JITGATE_API_PROBES_H
#define JITGATE_API_PROBES_H

#include <jansson.h>

#include "jitgate/api_read.h"
#include "jitgate/http.h"

/*
 * POST /v1/services/{svc}/probes with body (borrowed; e->field may point
 * into it): the body checked (400 naming the field), read-pii
 * required for a condition on personal data, probe.deploy recorded with
 * the probe's id, the probe stored (its life clipped to the grant's end).
 * 0 with *result {body..., id, grant, expires_at, duration}.
 */
int jg_api_probe_deploy(struct jg_http_request *req, const char *svc, const char *authorization,
			json_t *body, json_t **result, struct jg_api_error *e)
    __attribute__((warn_unused_result));

/*
 * POST /v1/services/{svc}/probes?dry_run=true: the same checks and errors as
 * jg_api_probe_deploy() (400s, read-pii for a condition on personal data,
 * the guard, 409 budget_exhausted), recorded as probe.deploy_preview, but
 * nothing stored and nothing counted against the grant's budget.  0 with
 * *result {dry_run: true, probe: {body..., grant, expires_at, duration (clipped), limits (full)},
 * budget}.
 */
int jg_api_probe_preview(struct jg_http_request *req, const char *svc, const char *authorization,
			 json_t *body, json_t **result, struct jg_api_error *e);

/* GET /v1/services/{svc}/probes (probe.list): *result {service, redacted, probes}. */
int jg_api_probes_list(struct jg_http_request *req, const char *svc, const char *authorization,
		       json_t **result, struct jg_api_error *e) __attribute__((warn_unused_result));

/* DELETE /v1/services/{svc}/probes/{id} (probe.delete): *result {id, deleted}. */
int jg_api_probe_delete(struct jg_http_request *req, const char *svc, const char *id,
			const char *authorization, json_t **result, struct jg_api_error *e)
    __attribute__((warn_unused_result));

/*
 * GET /v1/services/{svc}/probes/{id}/events?limit=&after=
 * (probe.events.read; limit and after from req's query): *result {service,
 * probe, redacted, events, next_after}, redacted unless read-pii.
 */
int jg_api_probe_events_read(struct jg_http_request *req, const char *svc, const char *id,
			     const char *authorization, json_t **result, struct jg_api_error *e)
    __attribute__((warn_unused_result));

#endif
