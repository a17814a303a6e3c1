/*
 * api_auth.c - browser sign-in, sign-out and "who am I".
 *
 *   GET  /auth/login?return_to=/path   start: state, nonce, PKCE (S256), redirect to the provider
 *   GET  /auth/callback                the provider's answer: check, redeem, open a session
 *   POST /auth/logout                  end the session (CSRF token required)
 *   GET  /v1/me                        the caller as jitgate sees them
 *
 * The pages (GET / and the rest) are in src/web/.  Thin: the flow itself
 * is identity's (login.h); here are the cookies, the sign-in limit per
 * address, the 429 for refused answers, and the pages that say what
 * happened.
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
#include "jitgate/login.h"
#include "api_routes_int.h"

static void
set_cookie(struct jg_http_reply *reply, const char *name, const char *value, int64_t max_age)
{
	char header[256];
	snprintf(header, sizeof(header),
		 "%s=%s; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=%lld", name, value,
		 (long long)max_age);
	jg_http_reply_header(reply, "Set-Cookie", header);
}

static struct jg_login_ctx
login_ctx(const struct jg_app *app)
{
	return (struct jg_login_ctx){.oidc = app->oidc,
				     .store = app->store,
				     .audit = app->audit,
				     .public_url = app->cfg->public_url,
				     .session_lifetime = app->cfg->auth_session_lifetime,
				     .now = jg_clock_now()};
}

static void
handle_login(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_login_ctx ctx = login_ctx(app);
	char state[JG_LOGIN_STATE_LEN + 1], why[256], *url = NULL;
	const char *return_to = jg_http_query(req, "return_to");

	if (app->oidc == NULL) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable",
					   "Single sign-on is not configured for this jitgate.");
		return;
	}
	if (return_to != NULL && !jg_login_return_to_valid(return_to)) {
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
	int rc = jg_login_begin(&ctx, return_to, &url, state, why, sizeof(why));
	if (rc == JG_ECRYPTO)
		jg_http_reply_error(reply, 500, "internal_error", "%s", why);
	else if (rc == JG_EINVAL)
		jg_http_reply_html_message(reply, 400, "Bad sign-in link", why);
	else if (rc != 0)
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable", why);
	else {
		jg_http_reply_redirect(reply, 302, url);
		set_cookie(reply, JG_LOGIN_COOKIE, state, JG_FLOW_MAX_AGE);
	}
	free(url);
	OPENSSL_cleanse(state, sizeof(state));
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
	struct jg_login_ctx ctx = login_ctx(app);
	struct jg_login_session s;
	char why[256] = "";
	struct jg_login_answer a = {.state = jg_http_query(req, "state"),
				    .code = jg_http_query(req, "code"),
				    .error = jg_http_query(req, "error"),
				    .iss = jg_http_query(req, "iss"),
				    .cookie = jg_http_cookie(req, JG_LOGIN_COOKIE),
				    .request_id = req->request_id};

	int rc = jg_login_finish(&ctx, &a, &s, why, sizeof(why));
	if (rc == 0) {
		jg_http_reply_redirect(reply, 303, s.return_to);
		set_cookie(reply, JG_SESSION_COOKIE, s.token, app->cfg->auth_session_lifetime);
		set_cookie(reply, JG_LOGIN_COOKIE, "", 0);
		OPENSSL_cleanse(&s, sizeof(s));
		return;
	}
	if (rc == JG_EINVAL) {
		jg_http_reply_html_message(reply, 400, "Bad sign-in answer", why);
		return;
	}
	if (rc != JG_EDENIED) {
		jg_http_reply_html_message(reply, 503, "Sign-in unavailable", why);
		return;
	}
	jg_http_reply_html_message(reply, 401, "Sign-in refused", why);
	struct jg_throttle_refusal limit = {0};
	char addr[JG_THROTTLE_ADDR_MAX];
	jg_http_client_key(req, addr, sizeof(addr));
	if (jg_throttle_failed_address(app->throttle, addr, &limit) != 0)
		jg_throttle_reply(reply, &limit);
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
	int rc = jg_login_logout(app->audit, cookie, caller.actor);
	jg_caller_clear(&caller);
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable",
				    "the audit log cannot be written; still signed in");
		return;
	}
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
