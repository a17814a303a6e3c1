/*
 * auth.c - identify the caller of a request (see auth.h).
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

void
jg_caller_clear(struct jg_caller *caller)
{
	jg_identity_clear(&caller->id);
	OPENSSL_cleanse(caller->csrf, sizeof(caller->csrf));
	caller->actor[0] = '\0';
}

static int
unauthorized(struct jg_http_reply *reply, const char *error, const char *why)
{
	char header[512];
	if (error)
		snprintf(header, sizeof(header),
			 "Bearer realm=\"jitgate\", error=\"%s\", error_description=\"%s\"", error,
			 why);
	else
		snprintf(header, sizeof(header), "Bearer realm=\"jitgate\"");
	jg_http_reply_error(reply, 401, "unauthorized", "%s", why);
	jg_http_reply_header(reply, "WWW-Authenticate", header);
	return JG_EDENIED;
}

static int
unsafe(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

/*
 * A credential that did not verify, charged to the client's address addr:
 * true with the 429 in reply when the address has no failures left (answer
 * that), false when the usual refusal is still to be written.
 */
static bool
address_failed(struct jg_app *app, const char *addr, struct jg_http_reply *reply)
{
	struct jg_throttle_refusal why = {0};
	if (jg_throttle_failed_address(app->throttle, addr, &why) == 0)
		return false;
	jg_throttle_reply(reply, &why);
	return true;
}

int
jg_auth_refuse_csrf(struct jg_http_request *req, struct jg_http_reply *reply, const char *message)
{
	struct jg_app *app = req->app;
	struct jg_throttle_refusal why = {0};
	const char *cookie = jg_http_cookie(req, JG_SESSION_COOKIE);
	char key[sizeof("session:") + JG_SESSION_TOKEN_LEN + 1];
	int limited = 0;

	/* the session is proven by its cookie: the failure is its own, not its owner's */
	if (cookie != NULL && strlen(cookie) <= JG_SESSION_TOKEN_LEN) {
		snprintf(key, sizeof(key), "session:%s", cookie);
		limited = jg_throttle_failed_credential(app->throttle, key, &why) != 0;
		OPENSSL_cleanse(key, sizeof(key));
	}
	if (limited)
		jg_throttle_reply(reply, &why);
	else
		jg_http_reply_error(reply, 403, "csrf", "%s", message);
	return JG_EDENIED;
}

/*
 * Identifies the caller.  A credential that does not verify is charged to
 * the client's address, a valid session without its CSRF token to that
 * session; either may turn the refusal into a 429.  Nothing is looked up
 * before the credential: a good one is never refused for failures that
 * other requests caused.
 */
static int
identify(struct jg_http_request *req, struct jg_http_reply *reply, struct jg_caller *caller)
{
	struct jg_app *app = req->app;
	const char *auth = jg_http_header(req, "Authorization");
	char why[256], addr[JG_THROTTLE_ADDR_MAX];
	int rc;

	if (app->oidc == NULL) {
		jg_http_reply_error(reply, 503, "unavailable", "single sign-on is not configured");
		return JG_EUNAVAIL;
	}
	jg_http_client_key(req, addr, sizeof(addr));
	if (auth != NULL) {
		if (strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
			if (address_failed(app, addr, reply))
				return JG_EDENIED;
			return unauthorized(reply, "invalid_request",
					    "the Authorization header must be 'Bearer <token>'");
		}
		/* an address that keeps failing makes jitgate call out no more (no JWKS fetch) */
		unsigned flags =
		    jg_throttle_address_spent(app->throttle, addr) ? JG_OIDC_NO_FETCH : 0;
		rc = jg_oidc_verify_access_token(app->oidc, auth + 7, flags, &caller->id, why,
						 sizeof(why));
		if (rc == JG_EUNAVAIL) {
			jg_http_reply_error(reply, 503, "unavailable", "%s", why);
			return JG_EUNAVAIL;
		}
		if (rc != 0) {
			if (address_failed(app, addr, reply))
				return JG_EDENIED;
			return unauthorized(reply, "invalid_token",
					    rc == JG_EDENIED ? why : "invalid token");
		}
	} else {
		const char *cookie = jg_http_cookie(req, JG_SESSION_COOKIE);
		if (cookie == NULL) /* no credential at all is no failure */
			return unauthorized(reply, NULL,
					    "sign in first: a bearer token or a session "
					    "is required");
		rc = jg_session_get(app->store, cookie, jg_clock_now(), app->cfg->auth_session_idle,
				    &caller->id, caller->csrf);
		if (rc == JG_ENOTFOUND) {
			if (address_failed(app, addr, reply))
				return JG_EDENIED;
			return unauthorized(reply, NULL, "the session has ended; sign in again");
		}
		if (rc != 0) {
			jg_http_reply_error(reply, 503, "unavailable", "sessions cannot be read");
			return JG_EUNAVAIL;
		}
		if (unsafe(req->method)) {
			const char *given = jg_http_header(req, "X-CSRF-Token");
			char field[JG_SESSION_TOKEN_LEN + 2];
			if (given == NULL && (req->route.flags & JG_ROUTE_FORM_BODY) &&
			    jg_http_form_field(req, "csrf", field, sizeof(field)) == 0)
				given = field;
			if (given == NULL || strlen(given) != strlen(caller->csrf) ||
			    CRYPTO_memcmp(given, caller->csrf, strlen(caller->csrf)) != 0) {
				jg_caller_clear(caller);
				return jg_auth_refuse_csrf(
				    req, reply, "this change needs the session's CSRF token");
			}
		}
	}
	snprintf(caller->actor, sizeof(caller->actor), "user:%s", caller->id.sub);
	return 0;
}

int
jg_auth_require(struct jg_http_request *req, struct jg_http_reply *reply, struct jg_caller *caller)
{
	memset(caller, 0, sizeof(*caller));
	int rc = identify(req, reply, caller);
	if (rc != 0)
		jg_caller_clear(caller);
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
