/*
 * login.h - browser sign-in and sign-out through the OpenID provider: the
 * authorization code flow with PKCE (S256), state and nonce, ending in a
 * server-side session (session.h).
 *
 * The flow runs in jitgate rather than in liboauth2's
 * oauth2_openidc_handle(), which in 1.4.5 leaves the nonce, iss and aud of
 * the ID token unchecked and forces SameSite=None on its cookies.  A login
 * is bound to the browser that started it: its state is both in the store
 * (single use, JG_FLOW_MAX_AGE) and in a cookie the caller sets, and the
 * two must match.  The redirect URI is built from the configured public
 * URL, never from Host or X-Forwarded-* headers.  Signing in and out are
 * audit entries (auth.login, auth.logout) in the transaction that writes
 * or deletes the session.
 */
#ifndef JITGATE_LOGIN_H
#define JITGATE_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jitgate/audit.h"
#include "jitgate/oidc.h"
#include "jitgate/session.h"
#include "jitgate/store.h"

struct jg_login_ctx {
	struct jg_oidc *oidc; /* NULL: single sign-on is not configured (JG_EUNAVAIL) */
	struct jg_store *store;
	struct jg_audit *audit;
	const char *public_url;	  /* the redirect URI is <public_url>/auth/callback */
	int64_t session_lifetime; /* seconds */
	int64_t now;		  /* Unix seconds of this call */
};

#define JG_LOGIN_STATE_LEN 43 /* base64url of 32 random bytes: the login cookie's value */

/* Whether p may be a return_to: a local absolute path (no scheme, no "//host", no "\"). */
bool jg_login_return_to_valid(const char *p);

/*
 * Starts a sign-in that returns to return_to (NULL: "/"): records the flow
 * and gives *url, the provider's authorization URL to redirect to (caller
 * frees), and state, the value of the login cookie.  Returns 0;
 * JG_EINVAL (return_to is not a local path); JG_ECRYPTO (no randomness);
 * JG_EUNAVAIL with why (not configured, the provider or the store cannot
 * be reached).
 */
int jg_login_begin(const struct jg_login_ctx *ctx, const char *return_to, char **url,
		   char state[JG_LOGIN_STATE_LEN + 1], char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* The provider's answer at the callback, and the login cookie that came with it (borrowed). */
struct jg_login_answer {
	const char *state, *code, *error, *iss;
	const char *cookie;	/* the login cookie: must equal state */
	const char *request_id; /* for the log line of a refused answer */
};

/* A signed-in session: the session cookie's value (a secret) and where to go. */
struct jg_login_session {
	char token[JG_SESSION_TOKEN_LEN + 1];
	char return_to[512];
};

/*
 * Finishes a sign-in: checks the answer against its flow (taken: single
 * use), redeems the code, verifies the ID token (nonce, iss, aud), and
 * opens a session with its auth.login entry.  Returns 0 with *out (wipe it
 * after use); otherwise why holds what to tell the person: JG_EINVAL (an
 * incomplete answer), JG_EDENIED (refused: another provider, another
 * browser, an unknown or used flow, the provider's refusal, a token that
 * does not verify), JG_EUNAVAIL (not configured, the provider, the store
 * or the audit log cannot be reached: nothing was done).
 */
int jg_login_finish(const struct jg_login_ctx *ctx, const struct jg_login_answer *a,
		    struct jg_login_session *out, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/*
 * Opens a session for id as a finished sign-in does: the session row and
 * its auth.login entry (data {"via": via}, via a short fixed word saying
 * how the person signed in) in one audit transaction.  token receives the
 * session cookie's value (wipe it after use).  0, or the audit writer's
 * error (nothing was written).
 */
int jg_login_open_session(struct jg_audit *audit, const struct jg_identity *id, int64_t now,
			  int64_t lifetime, const char *via, char token[JG_SESSION_TOKEN_LEN + 1])
    __attribute__((warn_unused_result));

/*
 * Ends the session whose cookie value is token, with an auth.logout entry
 * by actor in the same transaction.  0, or the audit writer's error (the
 * session is kept).
 */
int jg_login_logout(struct jg_audit *audit, const char *token, const char *actor)
    __attribute__((warn_unused_result));

#endif
