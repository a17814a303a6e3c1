/*
 * guard.c - verify token, grant and audit chain before a guarded action (see guard.h).
 *
 * jg_guard_check() judges what a call presents against its context
 * (struct jg_guard_ctx: keys, store, audit, throttle, clock) and either
 * refuses it - a struct jg_guard_refusal the HTTP side renders - or hands
 * back the entry that records the action.  jg_guard() and its variants are
 * the HTTP side: they read the request, render a refusal, and write the
 * entry (deferring an event-loop connection while it becomes durable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jitgate/access.h"
#include "jitgate/canon.h"
#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/guard.h"
#include "jitgate/log.h"
#include "jitgate/pii.h"
#include "jitgate/random.h"
#include "jitgate/sha256.h"
#include "jitgate/throttle.h"
#include "jitgate/token_cache.h"

/* A guard that deferred (jg_http_defer): its result, for the handler's second call. */
struct guard_pending {
	struct jg_http_request *req;
	int rc; /* how the audit append ended (set on the writer's thread) */
	struct jg_guarded g;
};

/* What a token says of its issuance, judged against its anchor entry (jg_audit_anchor_claim). */
struct issuance {
	const struct jg_token_claims *claims;
	const struct jg_access_grant *grant; /* its capabilities as stored */
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
	int all = 1;
	for (size_t i = 0; all && i < c->ncaps; i++) {
		int found = 0;
		for (size_t k = 0; k < is->grant->ncaps; k++)
			found |= strcmp(is->grant->caps[k], c->caps[i]) == 0;
		all = found;
	}
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

/* 401 invalid_token with why (also as the WWW-Authenticate error_description). */
static int
unauthorized(struct jg_guard_refusal *no, const char *why)
{
	no->status = 401;
	no->code = "unauthorized";
	snprintf(no->message, sizeof(no->message), "%s", why);
	snprintf(no->www_authenticate, sizeof(no->www_authenticate),
		 "Bearer realm=\"jitgate\", error=\"invalid_token\", error_description=\"%s\"",
		 why);
	return JG_EDENIED;
}

static int
unavailable(struct jg_guard_refusal *no, const char *why)
{
	no->status = 503;
	no->code = "unavailable";
	snprintf(no->message, sizeof(no->message), "%s; nothing was done", why);
	return JG_EUNAVAIL;
}

/* 403 insufficient_capability with message. */
static int
insufficient(struct jg_guard_refusal *no, const char *message)
{
	no->status = 403;
	no->code = "insufficient_capability";
	snprintf(no->message, sizeof(no->message), "%s", message);
	snprintf(no->www_authenticate, sizeof(no->www_authenticate),
		 "Bearer realm=\"jitgate\", error=\"insufficient_scope\"");
	return JG_EDENIED;
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
 * What a refusal says of the service asked for.  service is the URL's path
 * segment, any bytes chosen by the caller (an honest script may build it
 * from customer data): named in clear only when it is the token's own
 * service or a live service of the catalog; anything else is one keyed
 * marker of the whole segment (pii.h), taken over its bytes escaped where
 * they are not UTF-8 (canon.h), so an auditor can still find a value they
 * know.  NULL on failure.
 */
static json_t *
refused_service(const struct jg_guard_ctx *gc, const struct jg_token_claims *c, const char *service)
{
	if (strcmp(service, c->aud) == 0 || jg_catalog_service_exists(gc->store, service) == 0)
		return json_string(service);
	json_t *escaped = jg_canon_string_escaped(service, 256);
	json_t *m = escaped ? jg_pii_mark_whole(gc->pii, json_string_value(escaped),
						json_string_length(escaped))
			    : NULL;
	json_decref(escaped);
	return m;
}

/*
 * Records a refusal of an authentic token (its signature verified: a token
 * for another service, without the capability, or of a grant no longer
 * active).  Tokens that do not verify are not recorded: anyone could fill
 * the log with them.  A refusal that cannot be recorded stays a refusal.
 */
static void
audit_refusal(const struct jg_guard_ctx *gc, const struct jg_token_claims *c, const char *service,
	      const char *capability, const char *action, const char *reason)
{
	char actor[300];
	/* a replayed token is evidence once, not a flood: a few entries per jti (throttle.h) */
	if (!jg_throttle_refusal_recordable(gc->throttle, c->jti))
		return;
	snprintf(actor, sizeof(actor), "user:%s", c->sub);
	/* The token's claims are JSON strings already, and the rest is jitgate's own words. */
	json_t *data =
	    json_pack("{s:s,s:s,s:o*,s:s,s:s,s:s,s:s}", "grant", c->grant, "jti", c->jti, "service",
		      refused_service(gc, c, service), "token_service", c->aud, "capability",
		      capability, "action", action, "reason", reason);
	/* without its service (it could not be marked) the entry is not written */
	if (data == NULL || json_object_get(data, "service") == NULL ||
	    jg_audit_append(gc->audit, "guard.refused", actor, data, NULL) != 0)
		jg_log(JG_LOG_WARN, "guard: cannot record a refusal in the audit log", NULL);
	json_decref(data);
}

/*
 * A refused capability token, charged to credential ("jti:<jti>", for a
 * genuine token) or, when NULL, to the client's address.  0: answer the
 * refusal; JG_EDENIED: that budget is spent and *no holds the 429.
 */
static int
charge_failure(const struct jg_guard_ctx *gc, const struct jg_guard_call *call,
	       const char *credential, struct jg_guard_refusal *no)
{
	int rc;

	if (credential != NULL)
		rc = jg_throttle_failed_credential(gc->throttle, credential, &no->limit);
	else
		rc = jg_throttle_failed_address(gc->throttle, call->client, &no->limit);
	if (rc != 0)
		no->status = 429;
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
record_intent(const struct jg_guard_ctx *gc, struct jg_http_request *req, const char *action,
	      json_t *data, const struct jg_guarded *g)
{
	if (req->may_defer) {
		struct guard_pending *p = malloc(sizeof(*p));
		if (p == NULL)
			return JG_ENOMEM;
		p->req = req;
		p->rc = JG_EUNAVAIL;
		p->g = *g;
		if (jg_audit_append_async(gc->audit, action, g->actor, data, intent_done, p) != 0) {
			free(p);
			return JG_EUNAVAIL;
		}
		/* cannot fail: may_defer is set and nothing deferred yet */
		(void)jg_http_defer(req, p, guard_pending_free);
		return JG_EDEFERRED;
	}
	return jg_audit_append(gc->audit, action, g->actor, data, NULL);
}

/*
 * The params an entry holds: integers only, and personal data as keyed
 * markers (pii.h), since the log can never be edited.  NULL on failure.
 */
static json_t *
entry_params(const struct jg_guard_ctx *gc, json_t *params)
{
	json_t *p = integers_only(params);

	if (p != NULL && jg_pii_json(gc->pii, p) != 0) {
		json_decref(p);
		p = NULL;
	}
	return p;
}

int
jg_guard_check(const struct jg_guard_ctx *gc, const struct jg_guard_call *call,
	       struct jg_guarded *g, json_t **intent, struct jg_guard_refusal *no)
{
	const char *auth = call->authorization, *service = call->service,
		   *capability = call->capability, *action = call->action;
	struct jg_store_conn *conn;
	int64_t now = gc->now(gc->now_arg);
	char why[256];
	int rc;

	memset(g, 0, sizeof(*g));
	memset(no, 0, sizeof(*no));
	*intent = NULL;
	if (gc->keys == NULL)
		return unavailable(no, "capability tokens are not configured");
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
		no->status = 401;
		no->code = "unauthorized";
		snprintf(no->message, sizeof(no->message), "a capability token is required");
		snprintf(no->www_authenticate, sizeof(no->www_authenticate),
			 "Bearer realm=\"jitgate\"");
		return JG_EDENIED;
	}
	rc = jg_token_cache_signed(gc->cache, gc->keys, auth + 7, &g->claims, why, sizeof(why));
	int authentic = 0; /* a genuine, valid token, only not for this service */
	if (rc == 0 && jg_token_check_claims(&g->claims, gc->public_url, service, now, why,
					     sizeof(why)) != 0) {
		/* authentic and valid, but for another service: refused and recorded */
		char why2[256];
		authentic = strcmp(g->claims.aud, service) != 0 &&
			    jg_token_check_claims(&g->claims, gc->public_url, g->claims.aud, now,
						  why2, sizeof(why2)) == 0;
		if (authentic)
			audit_refusal(gc, &g->claims, service, capability, action, why);
		rc = JG_EDENIED;
	}
	if (rc != 0) {
		/* a genuine token's own failure (its jti), else the sender's address */
		char key[sizeof(g->claims.jti) + 8];
		snprintf(key, sizeof(key), "jti:%s", g->claims.jti);
		memset(&g->claims, 0, sizeof(g->claims));
		if (charge_failure(gc, call, authentic ? key : NULL, no) != 0)
			return JG_EDENIED;
		return unauthorized(no, why);
	}
	/* from here the token is genuine: its subject is a proven identity */
	snprintf(g->actor, sizeof(g->actor), "user:%s", g->claims.sub);
	int has = 0;
	for (size_t i = 0; i < g->claims.ncaps; i++) {
		has |= strcmp(g->claims.caps[i], capability) == 0;
		g->has_pii |= strcmp(g->claims.caps[i], "read-pii") == 0;
	}
	if (!has) {
		audit_refusal(gc, &g->claims, service, capability, action,
			      "the token does not hold the capability");
		snprintf(why, sizeof(why), "this needs the %s capability", capability);
		return insufficient(no, why);
	}
	if (call->pii_why != NULL && !g->has_pii) {
		/* the action touches personal data (a probe condition on it): read-pii too */
		audit_refusal(gc, &g->claims, service, "read-pii", action,
			      "the action needs read-pii");
		return insufficient(no, call->pii_why);
	}
	struct jg_access_grant grant;
	struct issuance is = {.claims = &g->claims,
			      .grant = &grant,
			      .why = "the token's audit anchor does not match the log"};
	struct jg_audit_anchor_claim claim = {.check = issuance_check, .ctx = &is};
	if (issuance_key(&g->claims, claim.key) != 0)
		return unavailable(no, "the token cannot be checked");
	/* the grant, as it is now: revocation and expiry take effect on the next call */
	if (jg_store_acquire(gc->store, &conn) != 0)
		return unavailable(no, "the store is unavailable");
	/*
	 * Grant and anchor in one read batch (store.h): one round trip on
	 * PostgreSQL, each read by its owner, no transaction around them - the
	 * anchor is an entry of an append-only log, so one snapshot for both would
	 * prove nothing more.  Any failure of the batch fails both: unavailable.
	 */
	struct jg_store_batch batch;
	size_t grant_slot = 0, anchor_slot = 0;
	jg_store_batch_init(&batch, conn);
	rc = jg_access_grant_check_queue(&batch, g->claims.grant, &grant_slot);
	if (rc == 0)
		rc = jg_audit_anchor_queue(&batch, g->claims.audit_seq, &anchor_slot);
	if (rc == 0)
		rc = jg_store_batch_run(&batch);
	if (rc == 0)
		rc = jg_access_grant_check_take(&batch, grant_slot, g->claims.sub, service, now,
						&grant);
	else
		memset(&grant, 0, sizeof(grant));
	int active = rc == 0;
	if (rc == JG_EDENIED)
		rc = 0;
	g->grant_expires = grant.expires_at;
	/*
	 * The token's anchor in the verified audit log, as the batch read it (what
	 * more it needs is read on the same connection): its own issuance, proven
	 * once per token (then only its leaf hash is re-checked).
	 */
	int anchor = rc == 0 && active
			 ? jg_audit_anchor_take(gc->audit, &batch, anchor_slot, g->claims.audit_seq,
						g->claims.audit_hash, &claim)
			 : 0;
	jg_store_batch_finish(&batch);
	jg_store_release(gc->store, conn);
	if (rc != 0)
		return unavailable(no, "the store is unavailable");
	if (!active || anchor == JG_EDENIED) {
		/*
		 * Recorded first, then charged to the token, never to its owner: a
		 * replayed leak locks no one out.  A signed token that is not what its
		 * issuance says is never served.
		 */
		char key[sizeof(g->claims.jti) + 8];
		const char *refused_why = active ? is.why : "the token's grant is no longer active";
		snprintf(key, sizeof(key), "jti:%s", g->claims.jti);
		audit_refusal(gc, &g->claims, service, capability, action, refused_why);
		if (charge_failure(gc, call, key, no) != 0)
			return JG_EDENIED;
		if (!active)
			return unauthorized(
			    no, "the token's grant is no longer active (revoked or expired)");
		return unauthorized(no, is.why);
	}
	if (anchor == JG_EVERIFY)
		return unavailable(no, "the audit log does not verify");
	if (anchor != 0)
		return unavailable(no, "the audit log cannot be read");

	/* the action, recorded before it happens */
	json_t *caps = json_array();
	for (size_t i = 0; i < g->claims.ncaps; i++)
		json_array_append_new(caps, json_string(g->claims.caps[i]));
	json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:o,s:O*}", "grant", g->claims.grant, "jti",
				 g->claims.jti, "service", service, "capability", capability,
				 "capabilities", caps, "params", NULL);
	if (data && call->params &&
	    json_object_set_new(data, "params", entry_params(gc, call->params)) != 0) {
		json_decref(data);
		data = NULL; /* never recorded without its params, nor with them in clear */
	}
	/* with read-pii whatever this call returns is unredacted: the entry says so */
	if (data && g->has_pii)
		json_object_set_new(data, "pii", json_true());
	if (data && call->created_key != NULL &&
	    json_object_set_new(data, call->created_key, json_string(call->created)) != 0) {
		json_decref(data);
		data = NULL; /* never recorded without the id of what it creates */
	}
	if (data == NULL)
		return unavailable(no, "the audit log cannot be written");
	*intent = data;
	return 0;
}

/* A refusal as the reply: its status, JSON error and WWW-Authenticate (or the 429). */
static int
refuse(struct jg_http_reply *reply, const struct jg_guard_refusal *no, int rc)
{
	if (no->status == 429) {
		jg_throttle_reply(reply, &no->limit);
		return JG_EDENIED;
	}
	jg_http_reply_error(reply, no->status, no->code, "%s", no->message);
	if (no->www_authenticate[0] != '\0')
		jg_http_reply_header(reply, "WWW-Authenticate", no->www_authenticate);
	return rc;
}

/*
 * The checks and the entry for a call presenting auth (no reply written):
 * 0, JG_EDEFERRED, or a JG_E* code with *no filled.
 */
static int
guard_core(const struct jg_guard_ctx *gc, struct jg_http_request *req, const char *auth,
	   const char *service, const char *capability, const char *action, json_t *params,
	   const char *pii_why, const char *id_key, const char *id_prefix, struct jg_guarded *g,
	   struct jg_guard_refusal *no)
{
	char client[JG_THROTTLE_ADDR_MAX], created[sizeof(g->created)] = "", rnd[32];
	json_t *intent = NULL;
	int rc;

	memset(no, 0, sizeof(*no));
	if (req->pending != NULL && req->pending_free == guard_pending_free) {
		/* the second call after a deferral: everything was checked, the entry is written */
		const struct guard_pending *p = req->pending;
		*g = p->g;
		if (p->rc != 0) {
			memset(g, 0, sizeof(*g));
			return unavailable(no, "the audit log cannot be written");
		}
		return 0;
	}
	if (id_key != NULL) {
		if (jg_random_token(16, rnd, sizeof(rnd)) != 0) {
			memset(g, 0, sizeof(*g));
			return unavailable(no, "no random id could be made");
		}
		snprintf(created, sizeof(created), "%s%s", id_prefix, rnd);
	}
	jg_http_client_key(req, client, sizeof(client));
	struct jg_guard_call call = {.authorization = auth,
				     .client = client,
				     .service = service,
				     .capability = capability,
				     .action = action,
				     .params = params,
				     .pii_why = pii_why,
				     .created_key = id_key,
				     .created = created};
	if ((rc = jg_guard_check(gc, &call, g, &intent, no)) != 0)
		return rc;
	memcpy(g->created, created, sizeof(g->created));
	rc = record_intent(gc, req, action, intent, g);
	json_decref(intent);
	if (rc == JG_EDEFERRED)
		return rc;
	if (rc != 0)
		return unavailable(no, "the audit log cannot be written");
	return 0;
}

static int
guard(const struct jg_guard_ctx *gc, struct jg_http_request *req, struct jg_http_reply *reply,
      const char *service, const char *capability, const char *action, json_t *params,
      const char *pii_why, const char *id_key, const char *id_prefix, struct jg_guarded *g)
{
	struct jg_guard_refusal no;
	int rc = guard_core(gc, req, jg_http_header(req, "Authorization"), service, capability,
			    action, params, pii_why, id_key, id_prefix, g, &no);
	if (rc == 0 || rc == JG_EDEFERRED)
		return rc;
	return refuse(reply, &no, rc);
}

int
jg_guard_authorized(const struct jg_guard_ctx *gc, struct jg_http_request *req,
		    const char *authorization, const char *service, const char *capability,
		    const char *action, json_t *params, struct jg_guarded *g,
		    struct jg_guard_refusal *no)
{
	return guard_core(gc, req, authorization, service, capability, action, params, NULL, NULL,
			  NULL, g, no);
}

int
jg_guard_authorized_pii(const struct jg_guard_ctx *gc, struct jg_http_request *req,
			const char *authorization, const char *service, const char *capability,
			const char *action, json_t *params, const char *pii_why,
			struct jg_guarded *g, struct jg_guard_refusal *no)
{
	return guard_core(gc, req, authorization, service, capability, action, params, pii_why,
			  NULL, NULL, g, no);
}

int
jg_guard_authorized_creating(const struct jg_guard_ctx *gc, struct jg_http_request *req,
			     const char *authorization, const char *service, const char *capability,
			     const char *action, json_t *params, const char *pii_why,
			     const char *id_key, const char *id_prefix, struct jg_guarded *g,
			     struct jg_guard_refusal *no)
{
	return guard_core(gc, req, authorization, service, capability, action, params, pii_why,
			  id_key, id_prefix, g, no);
}

void
jg_guard_reply(struct jg_http_reply *reply, const struct jg_guard_refusal *no)
{
	(void)refuse(reply, no, JG_EDENIED);
}

int
jg_guard(const struct jg_guard_ctx *gc, struct jg_http_request *req, struct jg_http_reply *reply,
	 const char *service, const char *capability, const char *action, json_t *params,
	 struct jg_guarded *g)
{
	return guard(gc, req, reply, service, capability, action, params, NULL, NULL, NULL, g);
}

int
jg_guard_pii(const struct jg_guard_ctx *gc, struct jg_http_request *req,
	     struct jg_http_reply *reply, const char *service, const char *capability,
	     const char *action, json_t *params, const char *pii_why, struct jg_guarded *g)
{
	if (params == NULL) {
		memset(g, 0, sizeof(*g));
		jg_http_reply_error(reply, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	int rc = guard(gc, req, reply, service, capability, action, params, pii_why, NULL, NULL, g);
	json_decref(params);
	return rc;
}

int
jg_guard_creating(const struct jg_guard_ctx *gc, struct jg_http_request *req,
		  struct jg_http_reply *reply, const char *service, const char *capability,
		  const char *action, json_t *params, const char *pii_why, const char *id_key,
		  const char *id_prefix, struct jg_guarded *g)
{
	if (params == NULL) {
		memset(g, 0, sizeof(*g));
		jg_http_reply_error(reply, 500, "internal_error", "out of memory");
		return JG_ENOMEM;
	}
	int rc = guard(gc, req, reply, service, capability, action, params, pii_why, id_key,
		       id_prefix, g);
	json_decref(params);
	return rc;
}

int
jg_guard_params(const struct jg_guard_ctx *gc, struct jg_http_request *req,
		struct jg_http_reply *reply, const char *service, const char *capability,
		const char *action, json_t *params, struct jg_guarded *g)
{
	return jg_guard_pii(gc, req, reply, service, capability, action, params, NULL, g);
}
