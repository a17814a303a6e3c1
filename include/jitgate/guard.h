/*
 * guard.h - the one check every guarded endpoint makes before it acts.
 *
 *   1. the capability token verifies (token.h) for this service, and holds
 *      the capability the endpoint needs;
 *   2. its grant is active in the store, for this service and requester,
 *      and not past its end (revocation takes effect on the next call);
 *   3. its audit anchor re-reads, re-hashes and proves into the verified
 *      log, which is first extended by whatever was appended since the
 *      last check (O(new entries)); and it is the token's own issuance: a
 *      token.issued entry recording the token's jti, grant, service, exp
 *      and capabilities (jg_token_issuance_check), all of which the grant
 *      holds - proven once per token, then only the leaf is re-checked;
 *   4. an audit entry records the action about to happen (who, grant,
 *      token, service, capability, parameters with their personal data as
 *      keyed markers, pii.h) and is durable (on the event loop the
 *      connection is suspended meanwhile, not the thread);
 * only then may the endpoint act.  A bad token is 401/403; a log that does
 * not verify, or cannot be written, is 503 for every guarded call.
 */
#ifndef JITGATE_GUARD_H
#define JITGATE_GUARD_H

#include <stdint.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/http.h"
#include "jitgate/store.h"
#include "jitgate/throttle.h"
#include "jitgate/token.h"

struct jg_token_cache;
struct jg_pii_keys;

/* What the guard works with: the running broker's (jg_app.guard), or a test's. */
struct jg_guard_ctx {
	struct jg_store *store;		  /* the grants (access.h) */
	struct jg_audit *audit;		  /* the anchors, refusals and intents */
	const struct jg_token_keys *keys; /* NULL: tokens not configured (every call 503) */
	struct jg_token_cache *cache;	  /* verified tokens (token_cache.h) */
	struct jg_throttle *throttle;	  /* failure budgets (throttle.h); NULL: none */
	const struct jg_pii_keys *pii;	  /* marks personal data in the intents' params */
	const char *public_url;		  /* the tokens' issuer */
	/* jitgate's time in Unix seconds (clock.h: jg_clock_now in the broker) */
	int64_t (*now)(void *arg);
	void *now_arg;
};

struct jg_guarded {
	struct jg_token_claims claims;
	char actor[300];       /* "user:<sub>" */
	int64_t grant_expires; /* the grant's end (Unix seconds) */
	int has_pii;	       /* the token holds read-pii */
	char created[64];      /* jg_guard_creating: the id recorded for what it creates; else "" */
};

/* What a guarded call presents and asks for (all borrowed). */
struct jg_guard_call {
	const char *authorization; /* the Authorization header, or NULL */
	const char *client;	   /* the client's address key (jg_http_client_key) */
	const char *service, *capability, *action;
	json_t *params;	     /* recorded with the action; NULL: none */
	const char *pii_why; /* not NULL: read-pii is needed too, and this is the 403's message */
	/* not NULL: the entry also holds data[created_key] = created (jg_guard_creating) */
	const char *created_key, *created;
};

/* Why a call is refused, as the reply says it. */
struct jg_guard_refusal {
	int status;			  /* 401, 403, 429 or 503 */
	const char *code;		  /* the error code (static); not for 429 */
	char message[512];		  /* the error message; not for 429 */
	char www_authenticate[512];	  /* the WWW-Authenticate header, or "" */
	struct jg_throttle_refusal limit; /* for 429: jg_throttle_reply() */
};

/*
 * Checks 1-3 of the top of this file for call at gc->now(): returns 0 with
 * *g filled and *intent the data of the entry that must record the action
 * (`action`, actor g->actor) before it happens - the caller appends it and
 * decrefs it.  Otherwise *no says how to answer: JG_EDENIED (401, 403,
 * 429) or JG_EUNAVAIL (503).  Refusals of an authentic token are recorded
 * (guard.refused) and failures charged to the throttle before it returns.
 */
int jg_guard_check(const struct jg_guard_ctx *gc, const struct jg_guard_call *call,
		   struct jg_guarded *g, json_t **intent, struct jg_guard_refusal *no)
    __attribute__((warn_unused_result));

/*
 * Runs the checks for service and capability on req and records `action`
 * with params (borrowed; may be NULL).  Returns 0 with *g filled, or fills
 * reply (401, 403, 429, 503) and returns non-zero.  On the event loop (an
 * inline route) it returns JG_EDEFERRED with no reply while the entry is
 * written: the handler returns, and is called again once the entry is
 * durable; that call's jg_guard() returns the outcome at once.  So a
 * handler must do nothing before jg_guard() that it cannot do twice.
 */
int jg_guard(const struct jg_guard_ctx *gc, struct jg_http_request *req,
	     struct jg_http_reply *reply, const char *service, const char *capability,
	     const char *action, json_t *params, struct jg_guarded *g)
    __attribute__((warn_unused_result));

/*
 * The checks and the entry of jg_guard() for a call whose Authorization is
 * given (authorization, borrowed; NULL: none) instead of read from req's
 * header: a debugging page presents the token jitgate keeps for its session
 * (session_grant.h), the browser never holding one.  req is still the
 * call's (its client address for the throttle; deferral, as jg_guard(): on
 * the event loop JG_EDEFERRED, and the second call returns the outcome).
 * Writes no reply: 0 with *g filled, or a JG_E* code with *no saying how to
 * answer (jg_guard_reply() renders it as the API does).  params borrowed
 * (NULL: none recorded).
 */
int jg_guard_authorized(const struct jg_guard_ctx *gc, struct jg_http_request *req,
			const char *authorization, const char *service, const char *capability,
			const char *action, json_t *params, struct jg_guarded *g,
			struct jg_guard_refusal *no) __attribute__((warn_unused_result));

/*
 * jg_guard_authorized() for an action that, when pii_why is not NULL, needs
 * read-pii besides capability (as jg_guard_pii(): refused before anything
 * is recorded but the refusal, 403 insufficient_capability saying pii_why).
 */
int jg_guard_authorized_pii(const struct jg_guard_ctx *gc, struct jg_http_request *req,
			    const char *authorization, const char *service, const char *capability,
			    const char *action, json_t *params, const char *pii_why,
			    struct jg_guarded *g, struct jg_guard_refusal *no)
    __attribute__((warn_unused_result));

/*
 * jg_guard_authorized() for an action that creates something, as
 * jg_guard_creating() (pii_why, id_key, id_prefix: the id made and recorded,
 * in g->created) but with the Authorization given and no reply written: a
 * debugging page deploys a probe with the token kept for its session.
 * params borrowed (NULL: none recorded).
 */
int jg_guard_authorized_creating(const struct jg_guard_ctx *gc, struct jg_http_request *req,
				 const char *authorization, const char *service,
				 const char *capability, const char *action, json_t *params,
				 const char *pii_why, const char *id_key, const char *id_prefix,
				 struct jg_guarded *g, struct jg_guard_refusal *no)
    __attribute__((warn_unused_result));

/* A refusal as jg_guard() answers it: status, JSON error, WWW-Authenticate, or the 429. */
void jg_guard_reply(struct jg_http_reply *reply, const struct jg_guard_refusal *no);

/*
 * jg_guard() for a handler that built params for the occasion: params is
 * stolen (released by the call), and NULL - they could not be built - is a
 * 500 with nothing recorded.
 */
int jg_guard_params(const struct jg_guard_ctx *gc, struct jg_http_request *req,
		    struct jg_http_reply *reply, const char *service, const char *capability,
		    const char *action, json_t *params, struct jg_guarded *g)
    __attribute__((warn_unused_result));

/*
 * jg_guard_params() for an action that, when pii_why is not NULL, needs
 * read-pii besides capability: a token without it is refused before
 * anything is recorded but the refusal (guard.refused), with 403
 * insufficient_capability whose message is pii_why.
 */
int jg_guard_pii(const struct jg_guard_ctx *gc, struct jg_http_request *req,
		 struct jg_http_reply *reply, const char *service, const char *capability,
		 const char *action, json_t *params, const char *pii_why, struct jg_guarded *g)
    __attribute__((warn_unused_result));

/*
 * jg_guard_pii() for an action that creates something: the guard makes its
 * id (id_prefix and 16 random bytes, base64url) before the checks, records
 * it in the action's entry as data[id_key], and gives it in g->created -
 * the same id on the second call after a deferral - so the thing is stored
 * under the id the log recorded (probe.deploy's "probe").
 */
int jg_guard_creating(const struct jg_guard_ctx *gc, struct jg_http_request *req,
		      struct jg_http_reply *reply, const char *service, const char *capability,
		      const char *action, json_t *params, const char *pii_why, const char *id_key,
		      const char *id_prefix, struct jg_guarded *g)
    __attribute__((warn_unused_result));

#endif
