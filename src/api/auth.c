/*
 * auth.c - identify the caller of a request (see auth.h).
 *
 * jg_auth_identify() judges what a request presents (its Authorization
 * header, session cookie, CSRF token, address) and either identifies the
 * caller or says how to refuse; jg_auth_require() reads those from the
 * request and renders the refusal.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "jitgate/app.h"
#include "jitgate/auth.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/secret.h"

void
jg_caller_clear(struct jg_caller *caller)
{
	jg_identity_clear(&caller->id);
	OPENSSL_cleanse(caller->csrf, sizeof(caller->csrf));
	caller->actor[0] = '\0';
}

/* 401 with the WWW-Authenticate of RFC 6750 (error NULL: none named). */
static int
unauthorized(struct jg_auth_refusal *no, const char *error, const char *why)
{
	no->status = 401;
	no->code = "unauthorized";
	snprintf(no->message, sizeof(no->message), "%s", why);
	if (error)
		snprintf(no->www_authenticate, sizeof(no->www_authenticate),
			 "Bearer realm=\"jitgate\", error=\"%s\", error_description=\"%s\"", error,
			 why);
	else
		snprintf(no->www_authenticate, sizeof(no->www_authenticate),
			 "Bearer realm=\"jitgate\"");
	return JG_EDENIED;
}

static int
unavailable(struct jg_auth_refusal *no, const char *why)
{
	no->status = 503;
	no->code = "unavailable";
	snprintf(no->message, sizeof(no->message), "%s", why);
	return JG_EUNAVAIL;
}

static int
unsafe(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

/*
 * A credential that did not verify, charged to the client's address:
 * true with the 429 in *no when the address has no failures left (answer
 * that), false when the usual refusal is still to be written.
 */
static bool
address_failed(const struct jg_auth_ctx *ctx, const char *client, struct jg_auth_refusal *no)
{
	if (jg_throttle_failed_address(ctx->throttle, client, &no->limit) == 0)
		return false;
	no->status = 429;
	return true;
}

/*
 * A change made with session cookie but without its CSRF token: 403 csrf
 * with message, charged to the session (429 once it has no failures left).
 */
static int
csrf_refused(struct jg_throttle *throttle, const char *cookie, const char *message,
	     struct jg_auth_refusal *no)
{
	char key[sizeof("session:") + JG_SESSION_TOKEN_LEN + 1];
	int limited = 0;

	/* the session is proven by its cookie: the failure is its own, not its owner's */
	if (cookie != NULL && strlen(cookie) <= JG_SESSION_TOKEN_LEN) {
		snprintf(key, sizeof(key), "session:%s", cookie);
		limited = jg_throttle_failed_credential(throttle, key, &no->limit) != 0;
		OPENSSL_cleanse(key, sizeof(key));
	}
	if (limited) {
		no->status = 429;
	} else {
		no->status = 403;
		no->code = "csrf";
		snprintf(no->message, sizeof(no->message), "%s", message);
	}
	return JG_EDENIED;
}

/* A refusal as the reply. */
static void
render(struct jg_http_reply *reply, const struct jg_auth_refusal *no)
{
	if (no->status == 429) {
		jg_throttle_reply(reply, &no->limit);
		return;
	}
	jg_http_reply_error(reply, no->status, no->code, "%s", no->message);
	if (no->www_authenticate[0] != '\0')
		jg_http_reply_header(reply, "WWW-Authenticate", no->www_authenticate);
}

int
jg_auth_refuse_csrf(struct jg_http_request *req, struct jg_http_reply *reply, const char *message)
{
	struct jg_app *app = req->app;
	struct jg_auth_refusal no = {0};
	int rc = csrf_refused(app->throttle, jg_http_cookie(req, JG_SESSION_COOKIE), message, &no);
	render(reply, &no);
	return rc;
}

int
jg_auth_identify(const struct jg_auth_ctx *ctx, const struct jg_auth_input *in,
		 struct jg_caller *caller, struct jg_auth_refusal *no)
{
	char why[256];
	int rc;

	memset(caller, 0, sizeof(*caller));
	memset(no, 0, sizeof(*no));
	if (ctx->oidc == NULL)
		return unavailable(no, "single sign-on is not configured");
	if (in->authorization != NULL) {
		const char *auth = in->authorization;
		if (strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
			if (address_failed(ctx, in->client, no))
				return JG_EDENIED;
			return unauthorized(no, "invalid_request",
					    "the Authorization header must be 'Bearer <token>'");
		}
		/*
		 * Whatever its address: a token naming a key not seen yet may be the
		 * provider's new key, and the fetch it triggers is already limited
		 * provider-wide (one per jwks_min_refresh_seconds, oidc.c).  Holding
		 * it back from an address that others spent locked out everyone
		 * behind that address after a rotation, and protected nothing: any
		 * fresh address can spend the interval.
		 */
		rc =
		    jg_oidc_verify_access_token(ctx->oidc, auth + 7, &caller->id, why, sizeof(why));
		if (rc == JG_EUNAVAIL) {
			jg_caller_clear(caller);
			return unavailable(no, why);
		}
		if (rc != 0) {
			jg_caller_clear(caller);
			if (address_failed(ctx, in->client, no))
				return JG_EDENIED;
			return unauthorized(no, "invalid_token",
					    rc == JG_EDENIED ? why : "invalid token");
		}
		/*
		 * The groups this token carries, as of its iat (session.h): the
		 * newest seen for its holder unless a later sign-in or token said
		 * otherwise.  A scheduled grant is re-evaluated with the newest
		 * when it starts, and a token issuance with them and the caller's.
		 * Not recording them only leaves an older row.
		 */
		if (ctx->store != NULL && jg_identity_groups_record_now(ctx->store, &caller->id,
									caller->id.issued_at) != 0)
			jg_log(JG_LOG_WARN,
			       "auth: the groups of an authentication were not recorded", NULL);
	} else {
		if (in->cookie == NULL) /* no credential at all is no failure */
			return unauthorized(no, NULL,
					    "sign in first: a bearer token or a session "
					    "is required");
		rc = jg_session_get(ctx->store, in->cookie, ctx->now, ctx->session_idle,
				    &caller->id, caller->csrf);
		if (rc == JG_ENOTFOUND) {
			jg_caller_clear(caller);
			if (address_failed(ctx, in->client, no))
				return JG_EDENIED;
			return unauthorized(no, NULL, "the session has ended; sign in again");
		}
		if (rc != 0) {
			jg_caller_clear(caller);
			return unavailable(no, "sessions cannot be read");
		}
		if (unsafe(in->method)) {
			const char *given = in->csrf;
			if (!jg_secret_equal(given, caller->csrf)) {
				jg_caller_clear(caller);
				return csrf_refused(ctx->throttle, in->cookie,
						    "this change needs the session's CSRF token",
						    no);
			}
		}
	}
	snprintf(caller->actor, sizeof(caller->actor), "user:%s", caller->id.sub);
	return 0;
}

int
jg_auth_require(struct jg_http_request *req, struct jg_http_reply *reply, struct jg_caller *caller)
{
	struct jg_app *app = req->app;
	struct jg_auth_refusal no;
	char client[JG_THROTTLE_ADDR_MAX], field[JG_SESSION_TOKEN_LEN + 2];
	struct jg_auth_ctx ctx = {.oidc = app->oidc,
				  .store = app->store,
				  .throttle = app->throttle,
				  .session_idle = app->cfg->auth_session_idle,
				  .now = jg_clock_now()};
	struct jg_auth_input in = {.method = req->method,
				   .authorization = jg_http_header(req, "Authorization"),
				   .cookie = jg_http_cookie(req, JG_SESSION_COOKIE),
				   .csrf = jg_http_header(req, "X-CSRF-Token"),
				   .client = client};

	jg_http_client_key(req, client, sizeof(client));
	/* a form carries the token as a field: read (parsed) only when it is needed */
	if (in.csrf == NULL && in.authorization == NULL && in.cookie != NULL &&
	    (req->route.flags & JG_ROUTE_FORM_BODY) && unsafe(req->method) &&
	    jg_http_form_field(req, "csrf", field, sizeof(field)) == 0)
		in.csrf = field;
	int rc = jg_auth_identify(&ctx, &in, caller, &no);
	OPENSSL_cleanse(field, sizeof(field));
	if (rc != 0)
		render(reply, &no);
	return rc;
}

int
jg_auth_require_groups(struct jg_http_request *req, struct jg_http_reply *reply,
		       struct jg_caller *caller, char *const *groups, const char *what)
{
	int rc = jg_auth_require(req, reply, caller);
	if (rc != 0)
		return rc;
	if (!jg_identity_in_groups(&caller->id, groups)) {
		jg_caller_clear(caller);
		jg_http_reply_error(reply, 403, "forbidden", "this needs %s rights", what);
		return JG_EDENIED;
	}
	return 0;
}
