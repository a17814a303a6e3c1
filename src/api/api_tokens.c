/*
 * api_tokens.c - capability tokens for active grants, and the public keys.
 *
 *   POST /v1/grants/{id}/token     the grant's requester; the grant active
 *   GET  /.well-known/jwks.json    every token public key still in use
 *
 * The issuance is an audit entry (token.issued) written in the same
 * transaction that re-checks the grant; the token's `audit` claim points
 * at that entry, so every token is anchored in the chain, and the entry
 * holds what the token claims (jg_token_issued_data: jti, grant, service,
 * exp, the sorted capabilities), which the guard compares.  exp never
 * passes the grant's end.
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
#include "jitgate/session.h"
#include "api_routes_int.h"

static const char sql_grant[] = "SELECT state, expires_at, requester, service, capabilities "
				"FROM access_requests WHERE id = ?";

struct issue_job {
	const char *grant, *sub, *actor;
	int64_t now, lifetime;
	struct jg_token_claims *claims;
	char why[200];
	int status;
};

static int
issue_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct issue_job *j = ctx;
	struct jg_store_conn *conn = jg_audit_tx_conn(tx);
	struct jg_token_claims *c = j->claims;
	struct jg_stmt *st;
	struct jg_audit_receipt receipt;
	int rc;

	if (jg_stmt_prepare(conn, sql_grant, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, j->grant);
	rc = jg_stmt_step(st);
	if (rc != JG_STMT_ROW) {
		jg_stmt_finish(st);
		if (rc != JG_STMT_DONE)
			return JG_ESTORE;
		j->status = 404;
		snprintf(j->why, sizeof(j->why), "no such grant");
		return JG_ENOTFOUND;
	}
	const char *state = jg_stmt_column_text(st, 0);
	int64_t expires = jg_stmt_column_int64(st, 1);
	int mine = strcmp(jg_stmt_column_text(st, 2), j->sub) == 0;
	int active = strcmp(state, "active") == 0 && expires > j->now;
	snprintf(c->aud, sizeof(c->aud), "%s", jg_stmt_column_text(st, 3));
	json_t *caps = json_loads(jg_stmt_column_text(st, 4), 0, NULL);
	jg_stmt_finish(st);
	if (!mine) {
		json_decref(caps);
		j->status = 404; /* someone else's grant: as if it did not exist */
		snprintf(j->why, sizeof(j->why), "no such grant");
		return JG_ENOTFOUND;
	}
	if (!active) {
		json_decref(caps);
		j->status = 409;
		snprintf(j->why, sizeof(j->why), "the grant is not active");
		return JG_ECONFLICT;
	}
	size_t i;
	json_t *cap;
	json_array_foreach(caps, i, cap)
	{
		if (c->ncaps < 8)
			snprintf(c->caps[c->ncaps++], sizeof(c->caps[0]), "%s",
				 json_string_value(cap));
	}
	json_decref(caps);
	char jti[32];
	if (jg_random_token(16, jti, sizeof(jti)) != 0)
		return JG_ECRYPTO;
	snprintf(c->jti, sizeof(c->jti), "tok_%s", jti);
	snprintf(c->grant, sizeof(c->grant), "%s", j->grant);
	snprintf(c->sub, sizeof(c->sub), "%s", j->sub);
	c->iat = c->nbf = j->now;
	c->exp = j->now + j->lifetime < expires ? j->now + j->lifetime : expires;
	/* what the guard holds the token to: its anchor must say exactly this */
	json_t *data = jg_token_issued_data(c);
	if (data == NULL)
		return JG_ENOMEM;
	rc = jg_audit_tx_append(tx, "token.issued", j->actor, data, &receipt);
	json_decref(data);
	if (rc == 0) {
		c->audit_seq = receipt.seq;
		memcpy(c->audit_hash, receipt.hash, 32);
	}
	return rc;
}

int
jg_api_token_issue(struct jg_app *app, const struct jg_caller *caller, const char *grant,
		   json_t **out, char *why, size_t whylen)
{
	struct jg_token_claims claims;
	char *token = NULL;

	*out = NULL;
	if (app->token_keys == NULL) {
		snprintf(why, whylen, "no token signing key");
		return 503;
	}
	memset(&claims, 0, sizeof(claims));
	snprintf(claims.iss, sizeof(claims.iss), "%s", app->cfg->public_url);
	struct issue_job j = {.grant = grant,
			      .sub = caller->id.sub,
			      .actor = caller->actor,
			      .now = jg_clock_now(),
			      .lifetime = app->token_lifetime,
			      .claims = &claims};
	int rc = jg_audit_run(app->audit, issue_fn, &j);
	if (rc == JG_ENOTFOUND || rc == JG_ECONFLICT) {
		snprintf(why, whylen, "%s", j.why);
		return j.status;
	}
	if (rc != 0) {
		snprintf(why, whylen, "the audit log cannot be written; no token was issued");
		return 503;
	}
	if (jg_token_issue(app->token_keys, &claims, &token) != 0) {
		snprintf(why, whylen, "the token could not be signed");
		return 500;
	}
	char curl[1024];
	snprintf(curl, sizeof(curl),
		 "curl -H \"Authorization: Bearer $TOKEN\" %s/v1/services/%s/probes",
		 app->cfg->public_url, claims.aud);
	json_t *caps = json_array();
	for (size_t i = 0; i < claims.ncaps; i++)
		json_array_append_new(caps, json_string(claims.caps[i]));
	*out = json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:{s:I},s:s}", "token", token, "token_type",
			 JG_TOKEN_USE, "grant", claims.grant, "service", claims.aud, "capabilities",
			 caps, "expires_at", (json_int_t)claims.exp, "audit", "seq",
			 (json_int_t)claims.audit_seq, "curl", curl);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	if (*out == NULL) {
		snprintf(why, whylen, "out of memory");
		return 500;
	}
	return 0;
}

static void
handle_issue(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_caller caller;
	json_t *out = NULL;
	char why[256] = "";

	if (jg_auth_require(req, reply, &caller) != 0)
		return;
	int status =
	    jg_api_token_issue(req->app, &caller, jg_http_param(req, "id"), &out, why, sizeof(why));
	jg_caller_clear(&caller);
	if (status != 0) {
		jg_http_reply_error(reply, status, jg_http_status_code(status), "%s", why);
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
