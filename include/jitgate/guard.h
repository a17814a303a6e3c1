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

#include "jitgate/http.h"
#include "jitgate/token.h"

struct jg_guarded {
	struct jg_token_claims claims;
	char actor[300];       /* "user:<sub>" */
	int64_t grant_expires; /* the grant's end (Unix seconds) */
	int has_pii;	       /* the token holds read-pii */
};

/*
 * Runs the checks for service and capability and records `action` with
 * params (borrowed; may be NULL).  Returns 0 with *g filled, or fills
 * reply (401, 403, 503) and returns non-zero.  On the event loop (an inline
 * route) it returns JG_EDEFERRED with no reply while the entry is written:
 * the handler returns, and is called again once the entry is durable; that
 * call's jg_guard() returns the outcome at once.  So a handler must do
 * nothing before jg_guard() that it cannot do twice.
 */
int jg_guard(struct jg_http_request *req, struct jg_http_reply *reply, const char *service,
	     const char *capability, const char *action, json_t *params, struct jg_guarded *g)
    __attribute__((warn_unused_result));

/*
 * jg_guard() for a handler that built params for the occasion: params is
 * stolen (released by the call), and NULL - they could not be built - is a
 * 500 with nothing recorded.
 */
int jg_guard_params(struct jg_http_request *req, struct jg_http_reply *reply, const char *service,
		    const char *capability, const char *action, json_t *params,
		    struct jg_guarded *g) __attribute__((warn_unused_result));

/*
 * jg_guard_params() for an action that, when pii_why is not NULL, needs
 * read-pii besides capability: a token without it is refused before
 * anything is recorded but the refusal (guard.refused), with 403
 * insufficient_capability whose message is pii_why.
 */
int jg_guard_pii(struct jg_http_request *req, struct jg_http_reply *reply, const char *service,
		 const char *capability, const char *action, json_t *params, const char *pii_why,
		 struct jg_guarded *g) __attribute__((warn_unused_result));

#endif
