/*
 * token_issue.h - a capability token for a grant (POST /v1/grants/{id}/token
 * and the "Issue a token" button of the web pages).
 *
 * The issuance is an audit entry (token.issued) written in the same
 * transaction that re-checks the grant (access.h, jg_access_grant_for_token);
 * the token's `audit` claim points at that entry, so every token is anchored
 * in the chain, and the entry holds what the token claims
 * (jg_token_issued_data: jti, grant, service, exp, the sorted
 * capabilities), which the guard compares.  exp never passes the grant's end.
 */
#ifndef JITGATE_TOKEN_ISSUE_H
#define JITGATE_TOKEN_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "jitgate/audit.h"
#include "jitgate/policy.h"
#include "jitgate/token.h"

struct jg_token_issuer {
	struct jg_audit *audit;
	const struct jg_token_keys *keys; /* NULL: no signing key (every issuance JG_EUNAVAIL) */
	const char *issuer;		  /* the tokens' iss: jitgate's public URL */
	int64_t lifetime;		  /* seconds a token lives at most */
};

/*
 * Issues a token for grant to its requester sub (actor: the entry's actor,
 * "user:<sub>") at time now (Unix seconds).  Returns 0 with *claims filled
 * and *token the signed token (a secret: the caller wipes and frees it);
 * otherwise a reason in why and JG_ENOTFOUND (no such grant, or someone
 * else's), JG_ECONFLICT (not active), JG_EUNAVAIL (no signing key, or the
 * audit log cannot be written: nothing was issued) or JG_ECRYPTO (the token
 * could not be signed; the issuance is recorded).
 */
int jg_token_issue_for_grant(const struct jg_token_issuer *is, const char *sub, const char *actor,
			     const char *grant, int64_t now, struct jg_token_claims *claims,
			     char **token, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/*
 * The caller as the server knows it: jg_token_issue_for_grant for a holder
 * authenticated now with groups, who must still qualify for the grant
 * under policies (access.h, jg_access_grant_qualifies; checked in the
 * transaction of the token.issued entry).  JG_EDENIED with the reason in
 * why when they no longer do: nothing is issued.  The API and the web
 * pages issue through this; jg_token_issue_for_grant alone is for the
 * tests and benchmarks that hold no policies.
 */
struct jg_token_holder {
	const char *sub, *actor;
	const char *const *groups;
	size_t ngroups;
	const struct jg_policy_set *policies;
};
int jg_token_issue_for_holder(const struct jg_token_issuer *is, const struct jg_token_holder *who,
			      const char *grant, int64_t now, struct jg_token_claims *claims,
			      char **token, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
