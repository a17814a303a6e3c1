/*
 * auth.c - identify the caller of a request (see auth.h).
 */
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
 * Identifies the caller.  proven gets the actor when a valid session came
 * without its CSRF token (a failure charged to that identity too).
 */
static int
identify(struct jg_http_request *req, struct jg_http_reply *reply, struct jg_caller *caller,
	 char *proven, size_t provenlen)
{
	struct jg_app *app = req->app;
	const char *auth = jg_http_header(req, "Authorization");
	char why[256];
	int rc;

	if (app->oidc == NULL) {
		jg_http_reply_error(reply, 503, "unavailable", "single sign-on is not configured");
		return JG_EUNAVAIL;
	}
	if (auth != NULL) {
		if (strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0')
			return unauthorized(reply, "invalid_request",
					    "the Authorization header must be 'Bearer <token>'");
		rc =
		    jg_oidc_verify_access_token(app->oidc, auth + 7, &caller->id, why, sizeof(why));
		if (rc == JG_EUNAVAIL) {
			jg_http_reply_error(reply, 503, "unavailable", "%s", why);
			return JG_EUNAVAIL;
		}
		if (rc != 0)
			return unauthorized(reply, "invalid_token",
					    rc == JG_EDENIED ? why : "invalid token");
	} else {
		const char *cookie = jg_http_cookie(req, JG_SESSION_COOKIE);
		if (cookie == NULL)
			return unauthorized(reply, NULL,
					    "sign in first: a bearer token or a session "
					    "is required");
		rc = jg_session_get(app->store, cookie, jg_clock_now(), app->cfg->auth_session_idle,
				    &caller->id, caller->csrf);
		if (rc == JG_ENOTFOUND)
			return unauthorized(reply, NULL, "the session has ended; sign in again");
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
				snprintf(proven, provenlen, "user:%s", caller->id.sub);
				jg_caller_clear(caller);
				jg_http_reply_error(reply, 403, "csrf",
						    "this change needs the session's CSRF token");
				return JG_EDENIED;
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
	char proven[sizeof(caller->actor)] = "";

	memset(caller, 0, sizeof(*caller));
	/* a client that keeps failing is refused before its credentials cost anything */
	if (jg_throttle_auth_check(app->throttle, req, reply) != 0)
		return JG_EDENIED;
	int rc = identify(req, reply, caller, proven, sizeof(proven));
	if (rc == 0 && jg_throttle_identity_check(app->throttle, caller->actor, reply) != 0) {
		jg_caller_clear(caller);
		return JG_EDENIED;
	}
	/* a credential that was presented and refused; none at all is no failure */
	if (rc == JG_EDENIED && (jg_http_header(req, "Authorization") != NULL ||
				 jg_http_cookie(req, JG_SESSION_COOKIE) != NULL))
		jg_throttle_auth_failed(app->throttle, req, proven[0] ? proven : NULL);
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
