/*
 * login.c - browser sign-in and sign-out (see login.h).
 *
 * Begin: three random values (state, nonce, PKCE verifier), the flow
 * stored under the state's hash (session.c), the provider's URL.  Finish:
 * the answer's issuer (RFC 9207) and the browser's cookie checked before
 * the flow is taken, then the code redeemed and the ID token verified
 * against the flow's nonce, then the session and its auth.login entry in
 * one audit transaction.  Secrets (the verifier, the code, the ID token,
 * the session token) are wiped from memory once used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/login.h"
#include "jitgate/random.h"
#include "jitgate/secret.h"

bool
jg_login_return_to_valid(const char *p)
{
	if (p == NULL || p[0] != '/' || p[1] == '/' || p[1] == '\\' || strlen(p) >= 500)
		return false;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == '\\' || (unsigned char)*c >= 0x7f)
			return false;
	return true;
}

static void
redirect_uri(const struct jg_login_ctx *ctx, char *out, size_t len)
{
	snprintf(out, len, "%s/auth/callback", ctx->public_url);
}

static int
unavailable(char *why, size_t whylen, const char *text)
{
	snprintf(why, whylen, "%s", text);
	return JG_EUNAVAIL;
}

int
jg_login_begin(const struct jg_login_ctx *ctx, const char *return_to, char **url,
	       char state[JG_LOGIN_STATE_LEN + 1], char *why, size_t whylen)
{
	struct jg_login_flow flow = {0};
	struct jg_store_conn *conn;
	char challenge[64], redirect[1024];
	int rc;

	*url = NULL;
	state[0] = '\0';
	if (ctx->oidc == NULL)
		return unavailable(why, whylen,
				   "Single sign-on is not configured for this jitgate.");
	if (return_to != NULL && !jg_login_return_to_valid(return_to)) {
		snprintf(why, whylen, "return_to must be a path on this site.");
		return JG_EINVAL;
	}
	snprintf(flow.return_to, sizeof(flow.return_to), "%s", return_to ? return_to : "/");
	if (jg_random_token(32, state, JG_LOGIN_STATE_LEN + 1) != 0 ||
	    jg_random_token(32, flow.nonce, sizeof(flow.nonce)) != 0 ||
	    jg_random_token(32, flow.code_verifier, sizeof(flow.code_verifier)) != 0 ||
	    jg_s256_challenge(flow.code_verifier, challenge, sizeof(challenge)) != 0) {
		snprintf(why, whylen, "no randomness");
		rc = JG_ECRYPTO;
		goto out;
	}
	redirect_uri(ctx, redirect, sizeof(redirect));
	if (jg_oidc_authorization_url(ctx->oidc, redirect, state, flow.nonce, challenge, url) !=
	    0) {
		rc = unavailable(why, whylen,
				 "The identity provider cannot be reached right now. Try again in "
				 "a minute.");
		goto out;
	}
	if (jg_store_acquire(ctx->store, &conn) != 0) {
		rc = unavailable(why, whylen, "The store is unavailable.");
		goto out;
	}
	rc = jg_flow_put(conn, state, &flow, ctx->now);
	jg_store_release(ctx->store, conn);
	if (rc != 0)
		rc = unavailable(why, whylen, "The store is unavailable.");
out:
	if (rc != 0) {
		free(*url);
		*url = NULL;
		OPENSSL_cleanse(state, JG_LOGIN_STATE_LEN + 1);
	}
	OPENSSL_cleanse(&flow, sizeof(flow));
	return rc;
}

struct login_job {
	const struct jg_identity *id;
	int64_t now, lifetime;
	const char *via;
	char token[JG_SESSION_TOKEN_LEN + 1];
	char csrf[JG_SESSION_TOKEN_LEN + 1];
};

static int
login_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct login_job *j = vctx;
	char actor[300];
	int rc =
	    jg_session_put(jg_audit_tx_conn(tx), j->id, j->now, j->lifetime, j->token, j->csrf);
	if (rc != 0)
		return rc;
	snprintf(actor, sizeof(actor), "user:%s", j->id->sub);
	json_t *data = json_pack("{s:s}", "via", j->via);
	rc = jg_audit_tx_append(tx, "auth.login", actor, data, NULL);
	json_decref(data);
	return rc;
}

int
jg_login_open_session(struct jg_audit *audit, const struct jg_identity *id, int64_t now,
		      int64_t lifetime, const char *via, char token[JG_SESSION_TOKEN_LEN + 1])
{
	struct login_job job = {.id = id, .now = now, .lifetime = lifetime, .via = via};
	int rc = jg_audit_run(audit, login_fn, &job);

	if (rc == 0)
		memcpy(token, job.token, sizeof(job.token));
	OPENSSL_cleanse(&job, sizeof(job));
	return rc;
}

int
jg_login_finish(const struct jg_login_ctx *ctx, const struct jg_login_answer *a,
		struct jg_login_session *out, char *why, size_t whylen)
{
	struct jg_login_flow flow = {0};
	struct jg_identity id = {0};
	struct jg_store_conn *conn;
	char redirect[1024], *id_token = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ctx->oidc == NULL)
		return unavailable(why, whylen,
				   "Single sign-on is not configured for this jitgate.");
	if (a->state == NULL || strlen(a->state) > 128 || (a->code == NULL && a->error == NULL) ||
	    (a->code && strlen(a->code) > 2048)) {
		snprintf(why, whylen, "The answer from the identity provider is incomplete.");
		return JG_EINVAL;
	}
	/* RFC 9207: an answer naming another issuer is a mix-up, whatever else it says */
	if (a->iss != NULL && strcmp(a->iss, jg_oidc_issuer(ctx->oidc)) != 0) {
		snprintf(why, whylen, "The answer comes from another identity provider.");
		return JG_EDENIED;
	}
	if (!jg_secret_equal(a->cookie, a->state)) {
		snprintf(why, whylen,
			 "This sign-in was not started in this browser (state mismatch). Start "
			 "again from the sign-in page.");
		return JG_EDENIED;
	}
	if (jg_store_acquire(ctx->store, &conn) != 0)
		return unavailable(why, whylen, "The store is unavailable.");
	rc = jg_flow_take(conn, a->state, ctx->now, &flow);
	jg_store_release(ctx->store, conn);
	if (rc == JG_ENOTFOUND) {
		snprintf(why, whylen, "This sign-in is unknown, too old or already used.");
		return JG_EDENIED;
	}
	if (rc != 0)
		return unavailable(why, whylen, "The store is unavailable.");
	if (a->error != NULL) {
		snprintf(why, whylen, "The identity provider did not sign you in.");
		rc = JG_EDENIED;
		goto out;
	}
	redirect_uri(ctx, redirect, sizeof(redirect));
	rc = jg_oidc_redeem_code(ctx->oidc, a->code, redirect, flow.code_verifier, &id_token, why,
				 whylen);
	if (rc == 0)
		rc = jg_oidc_verify_id_token(ctx->oidc, id_token, flow.nonce, &id, why, whylen);
	if (rc != 0) {
		json_t *f = json_pack("{s:s,s:s}", "request_id", a->request_id ? a->request_id : "",
				      "why", rc == JG_EUNAVAIL ? "provider unavailable" : why);
		jg_log(JG_LOG_WARN, "browser sign-in refused", f);
		json_decref(f);
		if (rc == JG_EUNAVAIL)
			snprintf(why, whylen, "The identity provider cannot be reached right now.");
		else
			rc = JG_EDENIED;
		goto out;
	}
	if (jg_login_open_session(ctx->audit, &id, ctx->now, ctx->session_lifetime, "browser",
				  out->token) != 0) {
		rc = unavailable(why, whylen, "The audit log cannot be written; nothing was done.");
		goto out;
	}
	snprintf(out->return_to, sizeof(out->return_to), "%s", flow.return_to);
out:
	if (id_token) {
		OPENSSL_cleanse(id_token, strlen(id_token));
		free(id_token);
	}
	jg_identity_clear(&id);
	OPENSSL_cleanse(&flow, sizeof(flow));
	return rc;
}

struct logout_job {
	const char *token;
	const char *actor;
};

static int
logout_fn(struct jg_audit_tx *tx, void *vctx)
{
	struct logout_job *j = vctx;
	int rc = jg_session_delete(jg_audit_tx_conn(tx), j->token);
	return rc ? rc : jg_audit_tx_append(tx, "auth.logout", j->actor, NULL, NULL);
}

int
jg_login_logout(struct jg_audit *audit, const char *token, const char *actor)
{
	struct logout_job job = {.token = token, .actor = actor};
	return jg_audit_run(audit, logout_fn, &job);
}
