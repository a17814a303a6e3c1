/*
 * auth.h - who is calling: a bearer token or jitgate's session cookie.
 *
 * Every handler that acts for someone calls jg_auth_require() first.  A
 * request with an Authorization header is judged by that header alone (a
 * bad token is a 401 even when a session cookie is also present); without
 * one the session cookie is used.  A request authenticated by the cookie
 * that changes something (POST, PUT, PATCH, DELETE) must also carry the
 * session's CSRF token (X-CSRF-Token header, or the `csrf` field of a form),
 * so a page on another site cannot act through the browser's cookie.
 *
 * Failures are charged (throttle.h) only once a credential has failed: a
 * bearer token or session that does not verify to the client's address, a
 * missing or wrong CSRF token to the session.  A credential that verifies
 * is never refused for failures other requests caused.
 */
#ifndef JITGATE_AUTH_H
#define JITGATE_AUTH_H

#include <stdint.h>

#include "jitgate/http.h"
#include "jitgate/oidc.h"
#include "jitgate/session.h"
#include "jitgate/store.h"
#include "jitgate/throttle.h"

#define JG_SESSION_COOKIE "__Host-jitgate_session"
#define JG_LOGIN_COOKIE	  "__Host-jitgate_login"

struct jg_caller {
	struct jg_identity id;
	char actor[300];		     /* "user:<sub>": the audit log's actor */
	char csrf[JG_SESSION_TOKEN_LEN + 1]; /* session callers only */
};

/* What identifying a caller needs besides the request. */
struct jg_auth_ctx {
	struct jg_oidc *oidc;	      /* NULL: single sign-on not configured (503) */
	struct jg_store *store;	      /* the sessions */
	struct jg_throttle *throttle; /* failure budgets; NULL: none */
	int64_t session_idle;	      /* seconds a session may go unused */
	int64_t now;		      /* Unix seconds of jitgate's clock */
};

/* What a request presents (all borrowed; NULL: absent). */
struct jg_auth_input {
	const char *method;
	const char *authorization; /* the Authorization header */
	const char *cookie;	   /* the session cookie */
	const char *csrf;	   /* X-CSRF-Token, or a form's csrf field */
	const char *client;	   /* the client's address key (jg_http_client_key) */
};

/* Why a caller is refused, as the reply says it. */
struct jg_auth_refusal {
	int status;			  /* 401, 403, 429 or 503 */
	const char *code;		  /* the error code (static); not for 429 */
	char message[300];		  /* not for 429 */
	char www_authenticate[512];	  /* the WWW-Authenticate header, or "" */
	struct jg_throttle_refusal limit; /* for 429: jg_throttle_reply() */
};

/*
 * The rule of the top of this file applied to what in presents: 0 with
 * *caller filled (clear it with jg_caller_clear()), or JG_EDENIED /
 * JG_EUNAVAIL with *no saying how to answer.  Failures are charged to
 * ctx->throttle as described above.
 */
int jg_auth_identify(const struct jg_auth_ctx *ctx, const struct jg_auth_input *in,
		     struct jg_caller *caller, struct jg_auth_refusal *no)
    __attribute__((warn_unused_result));

/*
 * Identifies the caller into *caller (cleared with jg_caller_clear()), or
 * fills reply with 401 (WWW-Authenticate set), 403 (CSRF), 429 (the failing
 * address or session is over its budget) or 503 (the provider's keys cannot
 * be had) and returns JG_EDENIED / JG_EUNAVAIL.
 */
int jg_auth_require(struct jg_http_request *req, struct jg_http_reply *reply,
		    struct jg_caller *caller) __attribute__((warn_unused_result));

/* As jg_auth_require(), then 403 unless the caller is in one of groups (what: for the message). */
int jg_auth_require_groups(struct jg_http_request *req, struct jg_http_reply *reply,
			   struct jg_caller *caller, char *const *groups, const char *what)
    __attribute__((warn_unused_result));

/*
 * Refuses a change made with the request's session but without its CSRF
 * token: 403 csrf with message, charged to the session (429 once the
 * session has no failures left).  Returns JG_EDENIED.
 */
int jg_auth_refuse_csrf(struct jg_http_request *req, struct jg_http_reply *reply,
			const char *message);

void jg_caller_clear(struct jg_caller *caller);

#endif
