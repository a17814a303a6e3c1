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
 * The caller as the server knows it: sub (the grant's requester), actor
 * (the entry's actor, "user:<sub>"), the groups they authenticated with
 * now, and the policies in force.
 */
struct jg_token_holder {
	const char *sub, *actor;
	const char *const *groups;
	size_t ngroups;
	const struct jg_policy_set *policies;
};
/*
 * Issues a token for grant to holder who at time now (Unix seconds), when
 * they still qualify for it with both their groups and the newest groups
 * seen for them (access.h, jg_access_grant_qualifies; checked in the
 * transaction of the token.issued entry).  Returns 0 with *claims filled
 * and *token the signed token (a secret: the caller wipes and frees it);
 * otherwise a reason in why and JG_ENOTFOUND (no such grant, or someone
 * else's), JG_ECONFLICT (not active), JG_EDENIED (their groups no longer
 * qualify: nothing is issued), JG_EUNAVAIL (no signing key, or the audit
 * log cannot be written: nothing was issued) or JG_ECRYPTO (the token
 * could not be signed; the issuance is recorded).  The only way to issue:
 * the API, the web pages, the tests and the benchmark all take it.
 */
int jg_token_issue_for_holder(const struct jg_token_issuer *is, const struct jg_token_holder *who,
			      const char *grant, int64_t now, struct jg_token_claims *claims,
			      char **token, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
