/*
 * api_auth.c - browser sign-in, sign-out and "who am I".
 *
 *   GET  /auth/login?return_to=/path   start: state, nonce, PKCE (S256), redirect to the provider
 *   GET  /auth/callback                the provider's answer: check, redeem, open a session
 *   POST /auth/logout                  end the session (CSRF token required)
 *   GET  /v1/me                        the caller as jitgate sees them
 *
 * The pages (GET / and the rest) are in src/web/.
 *
 * The code flow runs in jitgate rather than in liboauth2's
 * oauth2_openidc_handle(), which in 1.4.5 leaves the nonce, iss and aud of
 * the ID token unchecked and forces SameSite=None on its cookies.  The
 * login is bound to the browser that started it: its state is both in the
 * store (single use) and in a __Host- cookie, and the two must match.
 * Redirect URLs are built from the configured public URL, never from Host
 * or X-Forwarded-* headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "jitgate/app.h"
#include "jitgate/auth.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/session.h"
#include "api_routes_int.h"

static void
redirect_uri(const struct jg_app *app, char *out, size_t len)
{
	snprintf(out, len, "%s/auth/callback", app->cfg->public_url);
}

/* Only a local absolute path: no scheme, no "//host", no backslash tricks. */
static int
safe_return_to(const char *p)
{
	if (p == NULL || p[0] != '/' || p[1] == '/' || p[1] == '\\' || strlen(p) >= 500)
		return 0;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == '\\' || (unsigned char)*c >= 0x7f)
			return 0;
	return 1;
}

static void
set_cookie(struct jg_http_reply *reply, const char *name, const char *value, int64_t max_age)
{
	char header[256];
	snprintf(header, sizeof(header),
		 "%s=%s; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=%lld", name, value,
		 (long long)max_age);
	jg_http_reply_header(reply, "Set-Cookie", header);
}

static void
handle_login(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_login_flow flow = {0};
	struct jg_store_conn *conn;
	char state[64], challenge[64], redirect[1024], *url = NULL;
	const char *return_to = jg_http_query(req, "return_to");

	if (app->oidc == NULL) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable",
					   "Single sign-on is not configured for this jitgate.");
		return;
	}
	if (return_to != NULL && !safe_return_to(return_to)) {
		jg_http_reply_html_message(reply, 400, "Bad sign-in link",
					   "return_to must be a path on this site.");
		return;
	}
	struct jg_throttle_refusal limit = {0};
	char addr[JG_THROTTLE_ADDR_MAX];
	jg_http_client_key(req, addr, sizeof(addr));
	if (jg_throttle_login(app->throttle, addr, &limit) != 0) {
		char secs[16];
		snprintf(secs, sizeof(secs), "%d", limit.retry_after);
		jg_http_reply_html_message(reply, 429, "Too many sign-ins",
					   "Too many sign-ins from this address. Try again in a "
					   "minute.");
		jg_http_reply_header(reply, "Retry-After", secs);
		return;
	}
	snprintf(flow.return_to, sizeof(flow.return_to), "%s", return_to ? return_to : "/");
	if (jg_random_token(32, state, sizeof(state)) != 0 ||
	    jg_random_token(32, flow.nonce, sizeof(flow.nonce)) != 0 ||
	    jg_random_token(32, flow.code_verifier, sizeof(flow.code_verifier)) != 0 ||
	    jg_s256_challenge(flow.code_verifier, challenge, sizeof(challenge)) != 0) {
		jg_http_reply_error(reply, 500, "internal_error", "no randomness");
		return;
	}
	redirect_uri(app, redirect, sizeof(redirect));
	int rc = jg_oidc_authorization_url(app->oidc, redirect, state, flow.nonce, challenge, &url);
	if (rc != 0) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable",
					   "The identity provider cannot be reached right now. "
					   "Try again in a minute.");
		goto out;
	}
	if (jg_store_acquire(app->store, &conn) != 0) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable",
					   "The store is unavailable.");
		goto out;
	}
	rc = jg_flow_put(conn, state, &flow, jg_clock_now());
	jg_store_release(app->store, conn);
	if (rc != 0) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable",
					   "The store is unavailable.");
		goto out;
	}
	jg_http_reply_redirect(reply, 302, url);
	set_cookie(reply, JG_LOGIN_COOKIE, state, JG_FLOW_MAX_AGE);
out:
	free(url);
	OPENSSL_cleanse(&flow, sizeof(flow));
}

struct login_job {
	const struct jg_identity *id;
	int64_t lifetime;
	char token[JG_SESSION_TOKEN_LEN + 1];
	char csrf[JG_SESSION_TOKEN_LEN + 1];
};

static int
login_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct login_job *j = ctx;
	char actor[300];
	int rc = jg_session_put(jg_audit_tx_conn(tx), j->id, jg_clock_now(), j->lifetime, j->token,
				j->csrf);
	if (rc != 0)
		return rc;
	snprintf(actor, sizeof(actor), "user:%s", j->id->sub);
	json_t *data = json_pack("{s:s}", "via", "browser");
	rc = jg_audit_tx_append(tx, "auth.login", actor, data, NULL);
	json_decref(data);
	return rc;
}

static void
callback(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_login_flow flow = {0};
	struct jg_identity id = {0};
	struct jg_store_conn *conn;
	char redirect[1024], why[256], *id_token = NULL;
	const char *state = jg_http_query(req, "state"), *code = jg_http_query(req, "code"),
		   *error = jg_http_query(req, "error"),
		   *cookie = jg_http_cookie(req, JG_LOGIN_COOKIE);
	int rc;

	if (app->oidc == NULL) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable",
					   "Single sign-on is not configured for this jitgate.");
		return;
	}
	if (state == NULL || strlen(state) > 128 || (code == NULL && error == NULL) ||
	    (code && strlen(code) > 2048)) {
		jg_http_reply_html_message(reply, 400, "Bad sign-in answer",
					   "The answer from the identity provider is incomplete.");
		return;
	}
	/* RFC 9207: an answer naming another issuer is a mix-up, whatever else it says */
	const char *iss = jg_http_query(req, "iss");
	if (iss != NULL && strcmp(iss, jg_oidc_issuer(app->oidc)) != 0) {
		jg_http_reply_html_message(reply, 401, "Sign-in refused",
					   "The answer comes from another identity provider.");
		return;
	}
	if (cookie == NULL || strlen(cookie) != strlen(state) ||
	    CRYPTO_memcmp(cookie, state, strlen(state)) != 0) {
		jg_http_reply_html_message(reply, 401, "Sign-in refused",
					   "This sign-in was not started in this browser (state "
					   "mismatch). Start again from the sign-in page.");
		return;
	}
	if (jg_store_acquire(app->store, &conn) != 0) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable",
					   "The store is unavailable.");
		return;
	}
	rc = jg_flow_take(conn, state, jg_clock_now(), &flow);
	jg_store_release(app->store, conn);
	if (rc != 0) {
		jg_http_reply_html_message(reply, rc == JG_ENOTFOUND ? 401 : 503, "Sign-in refused",
					   rc == JG_ENOTFOUND
					       ? "This sign-in is unknown, too old or already used."
					       : "The store is unavailable.");
		return;
	}
	if (error != NULL) {
		jg_http_reply_html_message(reply, 401, "Sign-in refused",
					   "The identity provider did not sign you in.");
		goto out;
	}
	redirect_uri(app, redirect, sizeof(redirect));
	rc = jg_oidc_redeem_code(app->oidc, code, redirect, flow.code_verifier, &id_token, why,
				 sizeof(why));
	if (rc == 0)
		rc =
		    jg_oidc_verify_id_token(app->oidc, id_token, flow.nonce, &id, why, sizeof(why));
	if (rc != 0) {
		if (rc == JG_EUNAVAIL)
			jg_http_reply_html_message(
			    reply, 503, "Sign-in unavailable",
			    "The identity provider cannot be reached right now.");
		else
			jg_http_reply_html_message(reply, 401, "Sign-in refused", why);
		json_t *f = json_pack("{s:s,s:s}", "request_id", req->request_id, "why",
				      rc == JG_EUNAVAIL ? "provider unavailable" : why);
		jg_log(JG_LOG_WARN, "browser sign-in refused", f);
		json_decref(f);
		goto out;
	}
	struct login_job job = {.id = &id, .lifetime = app->cfg->auth_session_lifetime};
	if (jg_audit_run(app->audit, login_fn, &job) != 0) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable",
					   "The audit log cannot be written; nothing was done.");
		goto out;
	}
	jg_http_reply_redirect(reply, 303, flow.return_to);
	set_cookie(reply, JG_SESSION_COOKIE, job.token, app->cfg->auth_session_lifetime);
	set_cookie(reply, JG_LOGIN_COOKIE, "", 0);
	OPENSSL_cleanse(&job, sizeof(job));
out:
	if (id_token) {
		OPENSSL_cleanse(id_token, strlen(id_token));
		free(id_token);
	}
	jg_identity_clear(&id);
	OPENSSL_cleanse(&flow, sizeof(flow));
}

/*
 * A sign-in answer that is refused (401) counts as a failed authentication
 * of the address, and is answered 429 once the address has none left.  It
 * is judged first: a genuine answer signs in whatever its address did (the
 * provider is called only for a state that a limited sign-in stored).
 */
static void
handle_callback(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_throttle_refusal why = {0};
	char addr[JG_THROTTLE_ADDR_MAX];

	callback(req, reply);
	if (reply->status != 401)
		return;
	jg_http_client_key(req, addr, sizeof(addr));
	if (jg_throttle_failed_address(app->throttle, addr, &why) != 0)
		jg_throttle_reply(reply, &why);
}

struct logout_job {
	const char *token;
	const char *actor;
};

static int
logout_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct logout_job *j = ctx;
	int rc = jg_session_delete(jg_audit_tx_conn(tx), j->token);
	return rc ? rc : jg_audit_tx_append(tx, "auth.logout", j->actor, NULL, NULL);
}

static void
handle_logout(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_caller caller;
	const char *cookie = jg_http_cookie(req, JG_SESSION_COOKIE);

	if (jg_http_header(req, "Authorization") != NULL) {
		/* a bearer caller must not end whoever's session cookie came along */
		jg_http_reply_error(
		    reply, 400, "bad_request",
		    "sign-out ends a browser session: send its cookie, not a token");
		return;
	}
	if (cookie == NULL) { /* nothing to end */
		jg_http_reply_redirect(reply, 303, "/");
		return;
	}
	if (jg_auth_require(req, reply, &caller) != 0) {
		if (reply->status == 401) { /* the session was already over */
			jg_http_reply_redirect(reply, 303, "/");
			set_cookie(reply, JG_SESSION_COOKIE, "", 0);
		}
		return;
	}
	struct logout_job job = {.token = cookie, .actor = caller.actor};
	if (jg_audit_run(app->audit, logout_fn, &job) != 0) {
		jg_caller_clear(&caller);
		jg_http_reply_error(reply, 503, "unavailable",
				    "the audit log cannot be written; still signed in");
		return;
	}
	jg_caller_clear(&caller);
	jg_http_reply_redirect(reply, 303, "/");
	set_cookie(reply, JG_SESSION_COOKIE, "", 0);
}

static void
handle_me(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_caller caller;

	if (jg_auth_require(req, reply, &caller) != 0)
		return;
	json_t *me = jg_identity_to_json(&caller.id);
	if (me && caller.csrf[0])
		json_object_set_new(me, "csrf_token", json_string(caller.csrf));
	jg_caller_clear(&caller);
	jg_http_reply_json(reply, 200, me);
}

static const struct jg_route routes[] = {
    {"GET", "/auth/login", handle_login, NULL, 0},
    {"GET", "/auth/callback", handle_callback, NULL, 0},
    {"POST", "/auth/logout", handle_logout, NULL, JG_ROUTE_FORM_BODY},
    {"GET", "/v1/me", handle_me, NULL, 0},
};
const struct jg_route_table jg_api_auth_routes = {routes, sizeof(routes) / sizeof(routes[0])};
