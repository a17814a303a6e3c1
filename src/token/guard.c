/*
 * guard.c - verify token, grant and audit chain before a guarded action (see guard.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jitgate/app.h"
#include "jitgate/canon.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/log.h"
#include "jitgate/pii.h"
#include "jitgate/sha256.h"
#include "jitgate/token_cache.h"

/* A guard that deferred (jg_http_defer): its result, for the handler's second call. */
struct guard_pending {
	struct jg_http_request *req;
	int rc; /* how the audit append ended (set on the writer's thread) */
	struct jg_guarded g;
};

static const char sql_grant[] = "SELECT state, expires_at, requester, service, capabilities "
				"FROM access_requests WHERE id = ?";

/* What a token says of its issuance, judged against its anchor entry (jg_audit_anchor_claim). */
struct issuance {
	const struct jg_token_claims *claims;
	char grant_caps[256]; /* the grant's capabilities as stored: a JSON array */
	char why[200];
};

/*
 * The anchor must be this token's own token.issued entry, and the grant
 * must hold every capability the token claims.  Run once per token (per
 * claim key); a grant's capabilities never change after it is created.
 */
static int
issuance_check(void *ctx, const json_t *entry)
{
	struct issuance *is = ctx;
	const struct jg_token_claims *c = is->claims;

	if (jg_token_issuance_check(entry, c, is->why, sizeof(is->why)) != 0)
		return JG_EDENIED;
	json_t *granted = json_loads(is->grant_caps, JSON_REJECT_DUPLICATES, NULL);
	int all = json_is_array(granted);
	for (size_t i = 0; all && i < c->ncaps; i++) {
		size_t k;
		json_t *v;
		int found = 0;
		json_array_foreach(granted, k, v)
		{
			found |= json_is_string(v) && strcmp(json_string_value(v), c->caps[i]) == 0;
		}
		all = found;
	}
	json_decref(granted);
	if (!all) {
		snprintf(is->why, sizeof(is->why),
			 "the token's capabilities are not all its grant's");
		return JG_EDENIED;
	}
	return 0;
}

/*
 * The key of what a token claims about its issuance: SHA-256 over its jti,
 * grant, service, subject, expiry and capabilities, each NUL-terminated (so
 * no two claims run together into the same bytes).
 */
static int
issuance_key(const struct jg_token_claims *c, uint8_t key[32])
{
	char buf[64 + 64 + 64 + 256 + 24 + 8 * 16];
	size_t n = 0;
	const char *parts[] = {c->jti, c->grant, c->aud, c->sub};
	for (size_t i = 0; i < 4; i++) {
		size_t len = strlen(parts[i]) + 1;
		memcpy(buf + n, parts[i], len);
		n += len;
	}
	n += (size_t)snprintf(buf + n, 24, "%lld", (long long)c->exp) + 1;
	for (size_t i = 0; i < c->ncaps && i < 8; i++) {
		size_t len = strlen(c->caps[i]) + 1;
		memcpy(buf + n, c->caps[i], len);
		n += len;
	}
	return jg_sha256_2(buf, n, NULL, 0, key);
}

static int
unauthorized(struct jg_http_reply *reply, const char *why)
{
	char header[400];
	snprintf(header, sizeof(header),
		 "Bearer realm=\"jitgate\", error=\"invalid_token\", error_description=\"%s\"",
		 why);
	jg_http_reply_error(reply, 401, "unauthorized", "%s", why);
	jg_http_reply_header(reply, "WWW-Authenticate", header);
	return JG_EDENIED;
}

static int
unavailable(struct jg_http_reply *reply, const char *why)
{
	jg_http_reply_error(reply, 503, "unavailable", "%s; nothing was done", why);
	return JG_EUNAVAIL;
}

/*
 * Audit entries hold integers only (docs/audit-format.md): a copy of the
 * request's parameters with every real number written as its decimal text.
 */
static json_t *
integers_only(json_t *v)
{
	const char *k;
	size_t i;
	json_t *c, *out;

	switch (json_typeof(v)) {
	case JSON_REAL: {
		char buf[64];
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		return json_string(buf);
	}
	case JSON_OBJECT:
		out = json_object();
		json_object_foreach(v, k, c)
		{
			json_object_set_new(out, k, integers_only(c));
		}
		return out;
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach(v, i, c)
		{
			json_array_append_new(out, integers_only(c));
		}
		return out;
	default: return json_incref(v);
	}
}

/*
 * Records a refusal of an authentic token (its signature verified: a token
 * for another service, without the capability, or of a grant no longer
 * active).  Tokens that do not verify are not recorded: anyone could fill
 * the log with them.  A refusal that cannot be recorded stays a refusal.
 */
static void
audit_refusal(struct jg_app *app, const struct jg_token_claims *c, const char *service,
	      const char *capability, const char *action, const char *reason)
{
	char actor[300];
	/* a replayed token is evidence once, not a flood: a few entries per jti (throttle.h) */
	if (!jg_throttle_refusal_recordable(app->throttle, c->jti))
		return;
	snprintf(actor, sizeof(actor), "user:%s", c->sub);
	/*
	 * service is the URL's path segment, any bytes: escaped where they are not
	 * UTF-8 (a JSON string could not hold them, and the refusal was lost).
	 * The token's claims are JSON strings already.
	 */
	json_t *data =
	    json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:s}", "grant", c->grant, "jti", c->jti, "service",
		      jg_canon_string_escaped(service, 256), "token_service", c->aud, "capability",
		      capability, "action", action, "reason", reason);
	if (data == NULL || jg_audit_append(app->audit, "guard.refused", actor, data, NULL) != 0)
		jg_log(JG_LOG_WARN, "guard: cannot record a refusal in the audit log", NULL);
	json_decref(data);
}

/*
 * A refused capability token, charged to credential ("jti:<jti>", for a
 * genuine token) or, when NULL, to the client's address.  0: answer the
 * refusal; JG_EDENIED: that budget is spent and reply holds the 429.
 */
static int
charge_failure(struct jg_http_request *req, const char *credential, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_throttle_refusal why = {0};
	char addr[JG_THROTTLE_ADDR_MAX];
	int rc;

	if (credential != NULL) {
		rc = jg_throttle_failed_credential(app->throttle, credential, &why);
	} else {
		jg_http_client_key(req, addr, sizeof(addr));
		rc = jg_throttle_failed_address(app->throttle, addr, &why);
	}
	if (rc != 0)
		jg_throttle_reply(reply, &why);
	return rc;
}

static void
guard_pending_free(void *p)
{
	free(p);
}

/* The writer's thread: the action's entry is durable (or failed); the handler may finish. */
static void
intent_done(void *ctx, int rc)
{
	struct guard_pending *p = ctx;
	p->rc = rc;
	jg_http_resume(p->req);
}

/*
 * Records the action (data is borrowed).  On the event loop the entry is
 * queued and the request deferred (JG_EDEFERRED); the handler's second call
 * gets the outcome from the pending state.  Elsewhere it waits in place.
 */
static int
record_intent(struct jg_http_request *req, const char *action, json_t *data,
	      const struct jg_guarded *g)
{
	struct jg_app *app = req->app;

	if (req->may_defer) {
		struct guard_pending *p = malloc(sizeof(*p));
		if (p == NULL)
			return JG_ENOMEM;
		p->req = req;
		p->rc = JG_EUNAVAIL;
		p->g = *g;
		if (jg_audit_append_async(app->audit, action, g->actor, data, intent_done, p) !=
		    0) {
			free(p);
			return JG_EUNAVAIL;
		}
		/* cannot fail: may_defer is set and nothing deferred yet */
		(void)jg_http_defer(req, p, guard_pending_free);
		return JG_EDEFERRED;
	}
	return jg_audit_append(app->audit, action, g->actor, data, NULL);
}

/*
 * The params an entry holds: integers only, and personal data as keyed
 * markers (pii.h), since the log can never be edited.  NULL on failure.
 */
static json_t *
entry_params(const struct jg_app *app, json_t *params)
{
	json_t *p = integers_only(params);

	if (p != NULL && jg_pii_json(app->pii_keys, p) != 0) {
		json_decref(p);
		p = NULL;
	}
	return p;
}

static int
guard(struct jg_http_request *req, struct jg_http_reply *reply, const char *service,
      const char *capability, const char *action, json_t *params, const char *pii_why,
      struct jg_guarded *g)
{
	struct jg_app *app = req->app;
	const char *auth = jg_http_header(req, "Authorization");
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int64_t now = jg_clock_now();
	char why[256];
	int rc;

	if (req->pending != NULL && req->pending_free == guard_pending_free) {
		/* the second call after a deferral: everything was checked, the entry is written */
		const struct guard_pending *p = req->pending;
		*g = p->g;
		if (p->rc != 0) {
			memset(g, 0, sizeof(*g));
			return unavailable(reply, "the audit log cannot be written");
		}
		return 0;
	}
	memset(g, 0, sizeof(*g));
	if (app->token_keys == NULL)
		return unavailable(reply, "capability tokens are not configured");
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
		jg_http_reply_error(reply, 401, "unauthorized", "a capability token is required");
		jg_http_reply_header(reply, "WWW-Authenticate", "Bearer realm=\"jitgate\"");
		return JG_EDENIED;
	}
	rc = jg_token_cache_signed(app->token_cache, app->token_keys, auth + 7, &g->claims, why,
				   sizeof(why));
	int authentic = 0; /* a genuine, valid token, only not for this service */
	if (rc == 0 && jg_token_check_claims(&g->claims, app->cfg->public_url, service, now, why,
					     sizeof(why)) != 0) {
		/* authentic and valid, but for another service: refused and recorded */
		char why2[256];
		authentic = strcmp(g->claims.aud, service) != 0 &&
			    jg_token_check_claims(&g->claims, app->cfg->public_url, g->claims.aud,
						  now, why2, sizeof(why2)) == 0;
		if (authentic)
			audit_refusal(app, &g->claims, service, capability, action, why);
		rc = JG_EDENIED;
	}
	if (rc != 0) {
		/* a genuine token's own failure (its jti), else the sender's address */
		char key[sizeof(g->claims.jti) + 8];
		snprintf(key, sizeof(key), "jti:%s", g->claims.jti);
		memset(&g->claims, 0, sizeof(g->claims));
		if (charge_failure(req, authentic ? key : NULL, reply) != 0)
			return JG_EDENIED;
		return unauthorized(reply, why);
	}
	/* from here the token is genuine: its subject is a proven identity */
	snprintf(g->actor, sizeof(g->actor), "user:%s", g->claims.sub);
	int has = 0;
	for (size_t i = 0; i < g->claims.ncaps; i++) {
		has |= strcmp(g->claims.caps[i], capability) == 0;
		g->has_pii |= strcmp(g->claims.caps[i], "read-pii") == 0;
	}
	if (!has) {
		audit_refusal(app, &g->claims, service, capability, action,
			      "the token does not hold the capability");
		jg_http_reply_error(reply, 403, "insufficient_capability",
				    "this needs the %s capability", capability);
		jg_http_reply_header(reply, "WWW-Authenticate",
				     "Bearer realm=\"jitgate\", error=\"insufficient_scope\"");
		return JG_EDENIED;
	}
	if (pii_why != NULL && !g->has_pii) {
		/* the action touches personal data (a probe condition on it): read-pii too */
		audit_refusal(app, &g->claims, service, "read-pii", action,
			      "the action needs read-pii");
		jg_http_reply_error(reply, 403, "insufficient_capability", "%s", pii_why);
		jg_http_reply_header(reply, "WWW-Authenticate",
				     "Bearer realm=\"jitgate\", error=\"insufficient_scope\"");
		return JG_EDENIED;
	}
	struct issuance is = {.claims = &g->claims,
			      .why = "the token's audit anchor does not match the log"};
	struct jg_audit_anchor_claim claim = {.check = issuance_check, .ctx = &is};
	if (issuance_key(&g->claims, claim.key) != 0)
		return unavailable(reply, "the token cannot be checked");
	/* the grant, as it is now: revocation and expiry take effect on the next call */
	if (jg_store_acquire(app->store, &conn) != 0)
		return unavailable(reply, "the store is unavailable");
	/* grant and anchor from one snapshot, at the cost of one read transaction */
	int in_tx = jg_store_begin_read(conn) == 0;
	rc = jg_stmt_prepare(conn, sql_grant, &st);
	int active = 0;
	if (rc == 0) {
		jg_stmt_bind_text(st, 1, g->claims.grant);
		rc = jg_stmt_step(st);
		if (rc == JG_STMT_ROW) {
			const char *state = jg_stmt_column_text(st, 0);
			g->grant_expires = jg_stmt_column_int64(st, 1);
			active = state && strcmp(state, "active") == 0 && g->grant_expires > now &&
				 strcmp(jg_stmt_column_text(st, 2), g->claims.sub) == 0 &&
				 strcmp(jg_stmt_column_text(st, 3), service) == 0;
			/* judged when the issuance is first proven; a longer array is cut, never
			 * parses */
			const char *caps = jg_stmt_column_text(st, 4);
			snprintf(is.grant_caps, sizeof(is.grant_caps), "%s", caps ? caps : "");
			rc = 0;
		} else {
			rc = rc == JG_STMT_DONE ? 0 : JG_ESTORE;
		}
		jg_stmt_finish(st);
	}
	/*
	 * The token's anchor in the verified audit log, re-read on the same
	 * connection: its own issuance, proven once per token (then only its
	 * leaf hash is re-checked).
	 */
	int anchor = rc == 0 && active ? jg_audit_anchor(app->audit, conn, g->claims.audit_seq,
							 g->claims.audit_hash, &claim)
				       : 0;
	if (in_tx)
		jg_store_rollback(conn);
	jg_store_release(app->store, conn);
	if (rc != 0)
		return unavailable(reply, "the store is unavailable");
	if (!active || anchor == JG_EDENIED) {
		/*
		 * Recorded first, then charged to the token, never to its owner: a
		 * replayed leak locks no one out.  A signed token that is not what its
		 * issuance says is never served.
		 */
		char key[sizeof(g->claims.jti) + 8];
		const char *refused_why = active ? is.why : "the token's grant is no longer active";
		snprintf(key, sizeof(key), "jti:%s", g->claims.jti);
		audit_refusal(app, &g->claims, service, capability, action, refused_why);
		if (charge_failure(req, key, reply) != 0)
			return JG_EDENIED;
		if (!active)
			return unauthorized(
			    reply, "the token's grant is no longer active (revoked or expired)");
		return unauthorized(reply, is.why);
	}
	if (anchor == JG_EVERIFY)
		return unavailable(reply, "the audit log does not verify");
	if (anchor != 0)
		return unavailable(reply, "the audit log cannot be read");

	/* the action, recorded before it happens */
	json_t *caps = json_array();
	for (size_t i = 0; i < g->claims.ncaps; i++)
		json_array_append_new(caps, json_string(g->claims.caps[i]));
	json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:o,s:O*}", "grant", g->claims.grant, "jti",
				 g->claims.jti, "service", service, "capability", capability,
				 "capabilities", caps, "params", NULL);
	if (data && params && json_object_set_new(data, "params", entry_params(app, params)) != 0) {
		json_decref(data);
		data = NULL; /* never recorded without its params, nor with them in clear */
	}
	/* with read-pii whatever this call returns is unredacted: the entry says so */
	if (data && g->has_pii)
		json_object_set_new(data, "pii", json_true());
	rc = data ? record_intent(req, action, data, g) : JG_ENOMEM;
	json_decref(data);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0)
		return unavailable(reply, "the audit log cannot be written");
	return 0;
}

int
jg_guard(struct jg_http_request *req, struct jg_http_reply *reply, const char *service,
	 const char *capability, const char *action, json_t *params, struct jg_guarded *g)
{
	return guard(req, reply, service, capability, action, params, NULL, g);
}

int
jg_guard_pii(struct jg_http_request *req, struct jg_http_reply *reply, const char *service,
	     const char *capability, const char *action, json_t *params, const char *pii_why,
	     struct jg_guarded *g)
{
	if (params == NULL) {
		memset(g, 0, sizeof(*g));
		jg_http_reply_error(reply, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	int rc = guard(req, reply, service, capability, action, params, pii_why, g);
	json_decref(params);
	return rc;
}

int
jg_guard_params(struct jg_http_request *req, struct jg_http_reply *reply, const char *service,
		const char *capability, const char *action, json_t *params, struct jg_guarded *g)
{
	return jg_guard_pii(req, reply, service, capability, action, params, NULL, g);
}
