/*
 * api_call.c - the caller of an API call or a page action (see api_call.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jitgate/api_call.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"

int
jg_api_call_begin(struct jg_http_request *req, struct jg_http_reply *reply, struct jg_api_call *c)
{
	struct jg_app *app = req->app;
	int rc;

	memset(c, 0, sizeof(*c));
	c->app = app;
	if ((rc = jg_auth_require(req, reply, &c->who)) != 0)
		return rc;
	c->caller = (struct jg_access_caller){
	    .actor = c->who.actor,
	    .sub = c->who.id.sub,
	    .groups = (const char *const *)c->who.id.groups,
	    .ngroups = c->who.id.ngroups,
	    .is_admin = jg_identity_in_groups(&c->who.id, app->cfg->auth_admin_groups),
	    .is_auditor = jg_identity_in_groups(&c->who.id, app->cfg->auth_auditor_groups),
	};
	c->ctx = (struct jg_access_ctx){
	    .store = app->store,
	    .audit = app->audit,
	    .pii = app->pii_keys,
	    .policies = jg_app_policies_acquire(app),
	    .pending_ttl = app->cfg->requests_pending_expiry,
	    .refusals_recorded = app->cfg->requests_refusals_recorded,
	    .refusals_window = app->cfg->requests_refusals_window,
	    .now = jg_clock_now(),
	    .notify = app->notify,
	};
	c->have_policies = 1;
	return 0;
}

void
jg_api_call_end(struct jg_api_call *c)
{
	if (c->have_policies)
		jg_app_policies_release(c->app);
	c->have_policies = 0;
	jg_caller_clear(&c->who);
}

int
jg_api_request_create(struct jg_api_call *c, struct jg_http_request *req, json_t *body,
		      json_t **out, struct jg_throttle_refusal *limit, char *why, size_t whylen)
{
	char addr[JG_THROTTLE_ADDR_MAX];

	*out = NULL;
	/* only what is stored (or audited as denied) counts, whichever door it came through */
	jg_http_client_key(req, addr, sizeof(addr));
	if (jg_throttle_request(c->app->throttle, addr, c->who.actor, limit) != 0) {
		snprintf(why, whylen, "%s; retry in %d seconds", limit->what, limit->retry_after);
		return JG_ELIMITED;
	}
	return jg_access_create(&c->ctx, &c->caller, body, out, why, whylen);
}

int
jg_api_request_extend(struct jg_api_call *c, struct jg_http_request *req, const char *id,
		      json_t *body, json_t **out, struct jg_throttle_refusal *limit, char *why,
		      size_t whylen)
{
	char addr[JG_THROTTLE_ADDR_MAX];

	*out = NULL;
	/* an extension is a new request: it spends the same limits */
	jg_http_client_key(req, addr, sizeof(addr));
	if (jg_throttle_request(c->app->throttle, addr, c->who.actor, limit) != 0) {
		snprintf(why, whylen, "%s; retry in %d seconds", limit->what, limit->retry_after);
		return JG_ELIMITED;
	}
	return jg_access_extend(&c->ctx, &c->caller, id, body, out, why, whylen);
}
