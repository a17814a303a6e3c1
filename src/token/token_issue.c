/*
 * token_issue.c - capability tokens for active grants (see token_issue.h).
 *
 * One audit work function: the grant is re-read in the writer's
 * transaction (jg_access_grant_for_token), a random jti is drawn, and the
 * token.issued entry is appended; its receipt (seq and leaf hash) becomes
 * the token's anchor.  Only then is the token signed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/access.h"
#include "jitgate/error.h"
#include "jitgate/random.h"
#include "jitgate/token_issue.h"

struct issue_job {
	const char *grant, *sub, *actor;
	int64_t now, lifetime;
	struct jg_token_claims *claims;
	const struct jg_token_holder *who; /* re-checked: groups given and newest seen */
	char *why;
	size_t whylen;
};

static int
issue_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct issue_job *j = ctx;
	struct jg_token_claims *c = j->claims;
	struct jg_access_grant g;
	struct jg_audit_receipt receipt;
	int rc;

	rc = jg_access_grant_for_token(jg_audit_tx_conn(tx), j->grant, j->sub, j->now, &g);
	if (rc != 0)
		return rc;
	/*
	 * the holder's groups now and the newest seen, against the policy: one
	 * who left a group gets nothing more, whichever login they present
	 */
	if ((rc = jg_access_grant_qualifies(jg_audit_tx_conn(tx), j->who->policies, j->grant,
					    j->who->groups, j->who->ngroups, j->why, j->whylen)) !=
	    0)
		return rc;
	snprintf(c->aud, sizeof(c->aud), "%s", g.service);
	c->probe_budget = g.probe_budget;
	for (size_t i = 0; i < g.ncaps && c->ncaps < 8; i++)
		snprintf(c->caps[c->ncaps++], sizeof(c->caps[0]), "%s", g.caps[i]);
	char jti[32];
	if (jg_random_token(16, jti, sizeof(jti)) != 0)
		return JG_ECRYPTO;
	snprintf(c->jti, sizeof(c->jti), "tok_%s", jti);
	snprintf(c->grant, sizeof(c->grant), "%s", j->grant);
	snprintf(c->sub, sizeof(c->sub), "%s", j->sub);
	c->iat = c->nbf = j->now;
	c->exp = j->now + j->lifetime < g.expires_at ? j->now + j->lifetime : g.expires_at;
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

static int
issue(const struct jg_token_issuer *is, const struct jg_token_holder *who, const char *grant,
      int64_t now, struct jg_token_claims *claims, char **token, char *why, size_t whylen)
{
	*token = NULL;
	memset(claims, 0, sizeof(*claims));
	if (is->keys == NULL) {
		snprintf(why, whylen, "no token signing key");
		return JG_EUNAVAIL;
	}
	snprintf(claims->iss, sizeof(claims->iss), "%s", is->issuer);
	struct issue_job j = {.grant = grant,
			      .sub = who->sub,
			      .actor = who->actor,
			      .now = now,
			      .lifetime = is->lifetime,
			      .claims = claims,
			      .who = who,
			      .why = why,
			      .whylen = whylen};
	int rc = jg_audit_run(is->audit, issue_fn, &j);
	if (rc == JG_ENOTFOUND) {
		snprintf(why, whylen, "no such grant");
		return rc;
	}
	if (rc == JG_ECONFLICT) {
		snprintf(why, whylen, "the grant is not active");
		return rc;
	}
	if (rc == JG_EDENIED) {
		char reason[512];
		snprintf(reason, sizeof(reason), "%s", why);
		snprintf(why, whylen, "your groups no longer qualify for this grant: %s", reason);
		return rc;
	}
	if (rc != 0) {
		snprintf(why, whylen, "the audit log cannot be written; no token was issued");
		return JG_EUNAVAIL;
	}
	if (jg_token_issue(is->keys, claims, token) != 0) {
		snprintf(why, whylen, "the token could not be signed");
		return JG_ECRYPTO;
	}
	return 0;
}

int
jg_token_issue_for_holder(const struct jg_token_issuer *is, const struct jg_token_holder *who,
			  const char *grant, int64_t now, struct jg_token_claims *claims,
			  char **token, char *why, size_t whylen)
{
	return issue(is, who, grant, now, claims, token, why, whylen);
}
