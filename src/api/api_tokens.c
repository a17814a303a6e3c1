/*
 * api_tokens.c - capability tokens for active grants, and the public keys.
 *
 *   POST /v1/grants/{id}/token     the grant's requester; the grant active
 *   GET  /.well-known/jwks.json    every token public key still in use
 *
 * Thin: authenticate, jg_token_issue_for_holder() (token_issue.h: the
 * issuance is an audit entry written in the transaction that re-checks the
 * grant, and the caller's groups now against the policy), and the reply with the token, what it
 * holds and a curl hint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "jitgate/api_call.h"
#include "jitgate/app.h"
#include "jitgate/auth.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/token_issue.h"
#include "api_routes_int.h"

static void
handle_issue(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_api_call c;
	struct jg_token_claims claims;
	char why[640] = "", *token = NULL;
	const char *code;

	/* the caller's groups now, and the policies in force, for the re-check of the grant */
	if (jg_api_call_begin(req, reply, &c) != 0) {
		jg_api_call_end(&c);
		return;
	}
	struct jg_token_holder who = {.sub = c.who.id.sub,
				      .actor = c.who.actor,
				      .groups = c.caller.groups,
				      .ngroups = c.caller.ngroups,
				      .policies = c.ctx.policies};
	int rc = jg_token_issue_for_holder(&app->token_issuer, &who, jg_http_param(req, "id"),
					   c.ctx.now, &claims, &token, why, sizeof(why));
	jg_api_call_end(&c);
	if (rc != 0) {
		int status = jg_http_status_of(rc, &code);
		jg_http_reply_error(reply, status, jg_http_status_code(status), "%s", why);
		return;
	}
	char curl[1024];
	snprintf(curl, sizeof(curl),
		 "curl -H \"Authorization: Bearer $TOKEN\" %s/v1/services/%s/probes",
		 app->cfg->public_url, claims.aud);
	json_t *caps = json_array();
	for (size_t i = 0; i < claims.ncaps; i++)
		json_array_append_new(caps, json_string(claims.caps[i]));
	json_t *out = json_pack(
	    "{s:s,s:s,s:s,s:s,s:o,s:I,s:{s:I},s:s}", "token", token, "token_type", JG_TOKEN_USE,
	    "grant", claims.grant, "service", claims.aud, "capabilities", caps, "expires_at",
	    (json_int_t)claims.exp, "audit", "seq", (json_int_t)claims.audit_seq, "curl", curl);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	if (out == NULL) {
		jg_http_reply_error(reply, 500, "internal_error", "out of memory");
		return;
	}
	jg_http_reply_json(reply, 201, out);
	jg_http_reply_header(reply, "Cache-Control", "no-store");
}

static void
handle_jwks(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	if (app->token_keys == NULL) {
		jg_http_reply_error(reply, 503, "unavailable", "no token keys");
		return;
	}
	jg_http_reply_json(reply, 200, jg_token_jwks(app->token_keys));
	jg_http_reply_header(reply, "Cache-Control", "public, max-age=60");
}

static const struct jg_route routes[] = {
    {"POST", "/v1/grants/{id}/token", handle_issue, NULL, JG_ROUTE_JSON_BODY},
    {"GET", "/.well-known/jwks.json", handle_jwks, NULL, JG_ROUTE_INLINE},
};
const struct jg_route_table jg_api_tokens_routes = {routes, sizeof(routes) / sizeof(routes[0])};
