/*
 * src/web/web_int.h - what the page modules of src/web/ share (private).
 *
 * Pages are built into a struct jg_html.  Markup can only be added as a
 * string literal (JG_HTML() refuses anything else at compile time); every
 * other value goes through jg_html_text() or jg_html_textf(), which escape
 * it, so a value from a request, the store or the provider is always text
 * and never markup.
 */
#ifndef JITGATE_WEB_INT_H
#define JITGATE_WEB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/api_call.h"
#include "jitgate/api_read.h"
#include "jitgate/http.h"

struct jg_html {
	char *buf;
	size_t len, cap;
	int failed; /* out of memory: the page is dropped */
};

/* Appends markup: s must be a string literal (the "" concatenation enforces it). */
#define JG_HTML(h, s) jg_html_markup_((h), "" s "")
void jg_html_markup_(struct jg_html *h, const char *literal);
/* Appends text escaped for element content and quoted attribute values (NULL: nothing). */
void jg_html_text(struct jg_html *h, const char *text);
/* Formats, then appends the result escaped. */
void jg_html_textf(struct jg_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends value percent-encoded for a URL query or path (then safe in an attribute too). */
void jg_html_url_part(struct jg_html *h, const char *value);
void jg_html_free(struct jg_html *h);

#define JG_WEB_SELF_URL_MAX 480 /* under the 500 bytes a sign-in's return_to may have */
/*
 * The request's own URL as a local link: its path and every query argument
 * in order, percent-encoded, into out (the caller frees it).  0, or
 * JG_EINVAL (longer than JG_WEB_SELF_URL_MAX, not a path of this site, out
 * of memory: out is empty).
 */
int jg_web_self_url(const struct jg_http_request *req, struct jg_html *out);

/* One page being answered for a signed-in caller. */
struct jg_web {
	struct jg_http_request *req;
	struct jg_http_reply *reply;
	struct jg_api_call call; /* who is signed in, with the access context */
	struct jg_html h;
	int is_auditor;
};

/*
 * Authenticates the caller of a page or form (jg_api_call_begin(): session
 * cookie or bearer token; a form post must carry the session's CSRF token).
 * Returns 0, or -1 with the reply filled: a GET without a session is sent to
 * the sign-in; a refused post keeps the JSON API's answer (403 csrf).  Pair
 * with jg_web_end() in every case.
 */
int jg_web_begin(struct jg_web *w, struct jg_http_request *req, struct jg_http_reply *reply);
void jg_web_end(struct jg_web *w);

/* The page head, the header (who, groups, sign-out) and the navigation. */
void jg_web_page_start(struct jg_web *w, const char *title, const char *nav);
/* Closes the page and sets it as the reply with status and the pages' CSP. */
void jg_web_page_finish(struct jg_web *w, int status);
/* The sign-in page for a visitor without a session (GET /). */
void jg_web_signin_page(struct jg_http_request *req, struct jg_http_reply *reply);
/* A whole page saying what went wrong (status 4xx/5xx), with a link back. */
void jg_web_error_page(struct jg_web *w, int status, const char *title, const char *message,
		       const char *back);
/* A whole page without the caller's header (who may not be signed in), saying message. */
void jg_web_message_page(struct jg_http_reply *reply, int status, const char *title,
			 const char *message);
/* The same with a "Continue" link to href (a local link, escaped here); NULL: none. */
void jg_web_continue_page(struct jg_http_reply *reply, int status, const char *title,
			  const char *message, const char *href);
/* 303 to location (a local path). */
void jg_web_redirect(struct jg_http_reply *reply, const char *location);
/* The hidden CSRF field of a form. */
void jg_web_csrf_field(struct jg_web *w);
/* The reply's content type and CSP for an HTML page (also for error pages). */
void jg_web_set_html(struct jg_http_reply *reply);

/* A Unix time as "2026-11-25 20:31 UTC". */
void jg_web_time(int64_t t, char *buf, size_t len);
/* Seconds as "1h 5m", "4m 10s". */
void jg_web_left(int64_t secs, char *buf, size_t len);
/* What a policy decision (JSON of jg_policy_decision_to_json) means, in words. */
void jg_web_decision_text(struct jg_html *h, json_t *decision);
/* A request's state in words ("needs approval", "active", ...). */
const char *jg_web_state_text(const char *state);
/* A list of JSON strings joined by ", ". */
void jg_web_join(struct jg_html *h, json_t *array);
/*
 * Who approved request r (a jg_access JSON request) and, per requirement,
 * how many of how many approvals count ("1 of 2 from privacy"), as the
 * matching of access.c assigns them (docs/api.md, "Approvals").
 */
void jg_web_approvals_text(struct jg_html *h, json_t *r);

/*
 * The debugging pages (web_debug.c; docs/web.md, "Debugging pages").  A
 * page is a struct jg_web_debug_page (its read, form and rendering) run by
 * jg_web_debug_run(), which holds the skeleton every page shares: the
 * empty-args redirect, jg_web_debug_begin(), the read, the read once more
 * with a new token when the guard refused the kept one, the error page,
 * the frame, the status and jg_web_debug_end().  A handler that has begun
 * for something else first (a POST) shows a page with jg_web_debug_show().
 * Every link between the pages keeps ?grant= (jg_web_debug_href).
 */
struct jg_web_debug {
	struct jg_web w;	/* the page (begun once Sec-Fetch-Site passed) */
	const char *service;	/* {svc} of the route */
	const char *capability; /* what the page needs */
	char grant[64];		/* the grant in use */
	int64_t grant_end;	/* its end (Unix seconds) */
	int grant_pii;		/* it holds read-pii */
	json_t *grant_caps;	/* its capabilities (owned) */
	char *authorization;	/* "Bearer <token>" for the read: a secret, wiped by _end */
	int begun;
	int kept;    /* the token was a kept one (not minted by this load) */
	int retried; /* jg_web_debug_retry() ran */
};
/*
 * Begins a debugging page needing capability on {svc} (see web_debug.c):
 * Sec-Fetch-Site same-origin or none (else a 403 page), a browser session,
 * the grant (?grant= or the active one holding capability that ends last;
 * else the 403 page linking to the prefilled request form), the token kept
 * for (session, grant) or a new one.  0, or -1 with the reply filled and
 * nothing read.  Pair with jg_web_debug_end() in every case.
 */
int jg_web_debug_begin(struct jg_web_debug *d, struct jg_http_request *req,
		       struct jg_http_reply *reply, const char *capability);
void jg_web_debug_end(struct jg_web_debug *d);
/*
 * After a read refused with e: true when the guard refused the kept token
 * (401: a retired signing key, another issuer after a restore or a store
 * copy) and a new one is now in d->authorization - the kept row dropped, a
 * token minted (audited) - for the read to run once more.  At most once a
 * load; false otherwise (show e).  The refused token was charged to the
 * client's address once; the new one is not refused, so later loads
 * charge nothing.
 */
bool jg_web_debug_retry(struct jg_web_debug *d, const struct jg_api_error *e);
/*
 * The frame of a debugging page (page: "logs", "traces", ...): the grant in
 * use, its end, its capabilities, read-pii or a visible "Redacted" mark
 * (redacted: what the read answered), and the links to the other pages.
 */
void jg_web_debug_page_start(struct jg_web_debug *d, const char *title, const char *page,
			     int redacted);
/* A refused read (api_read.h) as a page with its status (and Retry-After for 429). */
void jg_web_debug_error(struct jg_web_debug *d, const char *title, const struct jg_api_error *e);
/* "/debug/{service}/{page}?grant={grant}", escaped for an attribute; callers add "&amp;k=v". */
void jg_web_debug_href(struct jg_html *h, const char *service, const char *page, const char *grant);
/* The links to the debugging pages caps allow for grant on service (current: marked). */
void jg_web_debug_links(struct jg_html *h, const char *service, const char *grant, json_t *caps,
			const char *current);
/*
 * A GET of /debug/{svc}/{page} whose search form sent empty fields: a 303
 * to the same URL with only the non-empty values of args (each value of a
 * repeated one).  True when it answered (nothing read).
 */
bool jg_web_debug_without_empty_args(struct jg_http_request *req, struct jg_http_reply *reply,
				     const char *page, const char *const *args, size_t nargs);
/*
 * One debugging page for jg_web_debug_run(); arg (the handler's) is passed
 * to each function.  The read gets d->authorization; it may run twice a
 * load (jg_web_debug_retry): a read that makes several calls keeps in arg
 * what it has read and goes on from the call that was refused.
 */
struct jg_web_debug_page {
	const char *page;	/* "logs", "traces", ...: the frame's current link */
	const char *capability; /* what the page needs ("read-logs") */
	/* the search form's fields, a URL with empty ones redirected without them; NULL: none */
	const char *const *args;
	size_t nargs;
	/* the title (its error page's too): "<title> <service>" ("Logs of"), or title_of's */
	const char *title;
	void (*title_of)(const struct jg_web_debug *d, void *arg, char *buf, size_t len);
	/*
	 * The guarded read (api_read.h): 0 with *result (owned by the caller), or
	 * the refusal in *e.  *result may be set on a refusal too (what a read of
	 * several calls read before it): it marks the frame "Redacted" or not.
	 */
	int (*read)(struct jg_web_debug *d, void *arg, json_t **result, struct jg_api_error *e);
	/*
	 * The search form under the frame, or NULL.  With one, a 400 is the form
	 * again with the message (status 400, nothing read); without, the error
	 * page, as for any other refusal.
	 */
	void (*form)(struct jg_web_debug *d, void *arg);
	/* The result under the frame (and the form): the page's status (200 ...). */
	int (*render)(struct jg_web_debug *d, void *arg, json_t *result);
};
/* A GET of debugging page p: the whole load, reply written. */
void jg_web_debug_run(struct jg_http_request *req, struct jg_http_reply *reply,
		      const struct jg_web_debug_page *p, void *arg);
/* Page p on a begun d (jg_web_debug_begin() returned 0): read, then the page or the error. */
void jg_web_debug_show(struct jg_web_debug *d, const struct jg_web_debug_page *p, void *arg);
/* Sec-Fetch-Site is same-origin or none: a GET may do an audited read. */
bool jg_web_fetch_site_ok(const struct jg_http_request *req);

/* The pages (each file's routes). */
void jg_web_home(struct jg_http_request *req, struct jg_http_reply *reply);
/* GET / for a caller: their requests and grants (access.c). */
void jg_web_access_page(struct jg_http_request *req, struct jg_http_reply *reply);
/* The "done" notice named by ?ok= (a fixed table: nothing of the query is echoed). */
void jg_web_ok_notice(struct jg_web *w);

/* Each file's route table (router.h), listed in web_routes.c. */
extern const struct jg_route_table jg_web_page_routes;	    /* GET / */
extern const struct jg_route_table jg_web_request_routes;   /* /request */
extern const struct jg_route_table jg_web_access_routes;    /* cancel, revoke, token */
extern const struct jg_route_table jg_web_approvals_routes; /* /approvals, approve|deny|review */
extern const struct jg_route_table jg_web_audit_routes;	    /* /audit... */
extern const struct jg_route_table jg_web_reports_routes;   /* /reports/access */
extern const struct jg_route_table jg_web_assets_routes;    /* /static/... */
extern const struct jg_route_table jg_web_logs_routes;	    /* /debug/{svc}/logs */
extern const struct jg_route_table jg_web_traces_routes;    /* /debug/{svc}/traces[/{trace_id}] */
extern const struct jg_route_table jg_web_probes_routes;    /* /debug/{svc}/probes... */
extern const struct jg_route_table jg_web_metrics_routes;   /* /debug/{svc}/metrics */

#endif
