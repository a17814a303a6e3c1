/*
 * debug.c (web) - what every debugging page shares (docs/web.md,
 * "Debugging pages"): /debug/{svc}/logs, and in turn traces, metrics and
 * probes.
 *
 * A debugging page reads audited data on GET, so before anything else it
 * requires Sec-Fetch-Site same-origin or none (a link or a form on another
 * site, which the browser marks cross-site or same-site, must not trigger
 * an audited read; a client that sends no such header is refused as well:
 * the API is for it).  Then the caller: a browser session only (a bearer
 * caller uses the API).  Then the grant: ?grant= when given - the caller's
 * own active grant on {svc} holding the page's capability - else the
 * caller's active grant on {svc} holding it that ends last; none is a 403
 * page naming the capability and the service, with a link to the request
 * form prefilled for it.  Then the token: the one kept for (session,
 * grant) while it is fresh (session_grant.h), else a new one issued to the
 * session's holder (token_issue.h: audited token.issued, the session's
 * groups and the policies in force) and kept.  The page then calls the
 * read of api_read.h with it, as the API would with the Authorization
 * header: the guard does every check.  The token never leaves the server:
 * it is in no page, no link, no log line, and is wiped once the page is
 * built.  Two pages loaded at the same instant may both issue a token (the
 * later one is kept); each issuance is audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/access.h"
#include "jitgate/app.h"
#include "jitgate/auth.h"
#include "jitgate/error.h"
#include "jitgate/log.h"
#include "jitgate/session_grant.h"
#include "jitgate/token_issue.h"
#include "jitgate/web.h"
#include "web_int.h"

/* Each debugging page: its path segment, the capability it needs, its name in links. */
static const struct {
	const char *page, *capability, *label;
} pages[] = {
    {"logs", "read-logs", "Logs"},
    {"traces", "read-traces", "Traces"},
    {"metrics", "read-metrics", "Metrics"},
    {"probes", "deploy-probe", "Probes"},
};
#define NPAGES (sizeof(pages) / sizeof(pages[0]))

/* The duration the no-capability page's request link asks for. */
#define REQUEST_DURATION "1h"
/* values of one argument a debugging page takes (attr= repeats, at most 4 are read) */
#define DEBUG_ARG_VALUES_MAX 8

bool
jg_web_fetch_site_ok(const struct jg_http_request *req)
{
	const char *site = jg_http_header(req, "Sec-Fetch-Site");
	return site != NULL && (strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0);
}

void
jg_web_debug_href(struct jg_html *h, const char *service, const char *page, const char *grant)
{
	JG_HTML(h, "/debug/");
	jg_html_url_part(h, service);
	JG_HTML(h, "/");
	jg_html_text(h, page);
	JG_HTML(h, "?grant=");
	jg_html_url_part(h, grant);
}

static bool
holds(json_t *caps, const char *capability)
{
	size_t i;
	json_t *c;
	json_array_foreach(caps, i, c)
	{
		if (json_is_string(c) && strcmp(json_string_value(c), capability) == 0)
			return true;
	}
	return false;
}

void
jg_web_debug_links(struct jg_html *h, const char *service, const char *grant, json_t *caps,
		   const char *current)
{
	int n = 0;
	for (size_t i = 0; i < NPAGES; i++) {
		if (!holds(caps, pages[i].capability))
			continue;
		if (n++ == 0)
			JG_HTML(h, "<nav class=\"debug-links\" aria-label=\"debugging pages\">"
				   "<span class=\"hint\">Debug:</span> ");
		JG_HTML(h, "<a href=\"");
		jg_web_debug_href(h, service, pages[i].page, grant);
		JG_HTML(h, "\"");
		if (current != NULL && strcmp(current, pages[i].page) == 0)
			JG_HTML(h, " aria-current=\"page\"");
		JG_HTML(h, ">");
		jg_html_text(h, pages[i].label);
		JG_HTML(h, "</a> ");
	}
	if (n > 0)
		JG_HTML(h, "</nav>");
}

/* 403: no grant of the caller's holds the capability here; the request that would give it. */
static void
no_capability_page(struct jg_web_debug *d, const char *asked)
{
	struct jg_html *h = &d->w.h;
	char title[128];

	snprintf(title, sizeof(title), "No %s on %s", d->capability, d->service);
	jg_html_free(h);
	jg_web_page_start(&d->w, title, NULL);
	JG_HTML(h, "<p class=\"notice error\" role=\"alert\" id=\"no-capability\">"
		   "You have no active grant with <strong>");
	jg_html_text(h, d->capability);
	JG_HTML(h, "</strong> on <strong>");
	jg_html_text(h, d->service);
	JG_HTML(h, "</strong>");
	if (asked != NULL) {
		JG_HTML(h, " (the grant <code>");
		jg_html_text(h, asked);
		JG_HTML(h, "</code> is not an active grant of yours that holds it)");
	}
	JG_HTML(h, ". Nothing was read.</p><p><a class=\"button\" id=\"request-link\" "
		   "href=\"/request?service=");
	jg_html_url_part(h, d->service);
	JG_HTML(h, "&amp;capabilities=");
	jg_html_url_part(h, d->capability);
	JG_HTML(h, "&amp;duration=" REQUEST_DURATION "\">Request ");
	jg_html_text(h, d->capability);
	JG_HTML(h, " on ");
	jg_html_text(h, d->service);
	JG_HTML(h, "</a> <a href=\"/\">My access</a></p>");
	jg_web_page_finish(&d->w, 403);
}

/*
 * The grant the page uses (see the top of this file) into d; 0, JG_ENOTFOUND
 * (none: the caller gets the no-capability page), or another code with the
 * reply filled.
 */
static int
choose_grant(struct jg_web_debug *d)
{
	struct jg_access_filter f = {.state = "active", .mine = 1};
	const char *asked = jg_http_query(d->w.req, "grant");
	json_t *out = NULL, *best = NULL;
	char why[256] = "";
	const char *code;
	size_t i;
	json_t *r;

	int rc = jg_access_list(&d->w.call.ctx, &d->w.call.caller, &f, &out, why, sizeof(why));
	if (rc != 0) {
		jg_web_error_page(&d->w, jg_http_status_of(rc, &code), "Unavailable", why, "/");
		json_decref(out);
		return rc;
	}
	json_array_foreach(json_object_get(out, "requests"), i, r)
	{
		const char *id = json_string_value(json_object_get(r, "id")),
			   *svc = json_string_value(json_object_get(r, "service")),
			   *state = json_string_value(json_object_get(r, "state"));
		int64_t end = json_integer_value(json_object_get(r, "expires_at"));
		if (id == NULL || svc == NULL || state == NULL || strcmp(state, "active") != 0 ||
		    strcmp(svc, d->service) != 0 ||
		    !holds(json_object_get(r, "capabilities"), d->capability) ||
		    end <= d->w.call.ctx.now || (asked != NULL && strcmp(asked, id) != 0) ||
		    strlen(id) >= sizeof(d->grant))
			continue;
		if (best == NULL || end > json_integer_value(json_object_get(best, "expires_at")))
			best = r;
	}
	if (best == NULL) {
		no_capability_page(d, asked);
		json_decref(out);
		return JG_ENOTFOUND;
	}
	snprintf(d->grant, sizeof(d->grant), "%s", json_string_value(json_object_get(best, "id")));
	d->grant_end = json_integer_value(json_object_get(best, "expires_at"));
	d->grant_caps = json_incref(json_object_get(best, "capabilities"));
	d->grant_pii = holds(d->grant_caps, "read-pii");
	json_decref(out);
	return 0;
}

/* d->authorization from token, which is wiped and freed. */
static int
set_authorization(struct jg_web_debug *d, char *token)
{
	size_t n = strlen(token) + sizeof("Bearer ");

	if (d->authorization != NULL) {
		OPENSSL_cleanse(d->authorization, strlen(d->authorization));
		free(d->authorization);
	}
	if ((d->authorization = malloc(n)) != NULL)
		snprintf(d->authorization, n, "Bearer %s", token);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	return d->authorization != NULL ? 0 : JG_ENOMEM;
}

/*
 * A new token for the grant, as POST /v1/grants/{id}/token (audited
 * token.issued; the session's groups and the newest seen must qualify),
 * kept for this session while the grant is still active.  0 or the code
 * with why.
 */
static int
mint(struct jg_web_debug *d, char **token, char *why, size_t whylen)
{
	struct jg_app *app = d->w.req->app;
	struct jg_token_claims claims;
	struct jg_store_conn *conn;
	struct jg_token_holder who = {.sub = d->w.call.who.id.sub,
				      .actor = d->w.call.who.actor,
				      .groups = d->w.call.caller.groups,
				      .ngroups = d->w.call.caller.ngroups,
				      .policies = d->w.call.ctx.policies};
	int rc = jg_token_issue_for_holder(&app->token_issuer, &who, d->grant, d->w.call.ctx.now,
					   &claims, token, why, whylen);
	if (rc != 0)
		return rc;
	/* not kept (store down, session or grant just ended): this page still reads, the guard
	 * deciding; the next load mints again */
	int kept = jg_store_acquire(app->store, &conn);
	if (kept == 0) {
		kept = jg_session_grant_token_put(conn, app->session_grant_keys,
						  jg_http_cookie(d->w.req, JG_SESSION_COOKIE),
						  d->grant, *token, claims.exp, d->w.call.ctx.now);
		jg_store_release(app->store, conn);
	}
	if (kept != 0 && kept != JG_ECONFLICT)
		jg_log(JG_LOG_WARN, "debug page: the token issued could not be kept", NULL);
	return 0;
}

/*
 * "Bearer <token>" for the grant: the token kept for this session while it
 * is fresh and its holder still qualifies, else a new one.  The
 * qualification is re-run on each reuse (two reads and the policy, no
 * audit entry): one who left a group, or whom a policy reload no longer
 * lets in, loses the kept token at the next load, as POST
 * /v1/grants/{id}/token would refuse them, and the page stays as fast as a
 * reuse (renewing every minute instead would write a token.issued per
 * minute and page session).
 */
static int
session_token(struct jg_web_debug *d)
{
	struct jg_app *app = d->w.req->app;
	const char *cookie = jg_http_cookie(d->w.req, JG_SESSION_COOKIE);
	struct jg_store_conn *conn;
	char *token = NULL, why[256] = "";
	int64_t now = d->w.call.ctx.now, exp = 0;
	const char *code;
	int rc;

	if ((rc = jg_store_acquire(app->store, &conn)) != 0) {
		jg_web_error_page(&d->w, 503, "Unavailable", "The store is unavailable.", "/");
		return rc;
	}
	rc = jg_session_grant_token_get(conn, app->session_grant_keys, cookie, d->grant, &token,
					&exp);
	if (rc == 0 && jg_session_grant_token_fresh(exp, d->grant_end, now)) {
		rc = jg_access_grant_qualifies(conn, d->w.call.ctx.policies, d->grant,
					       d->w.call.caller.groups, d->w.call.caller.ngroups,
					       why, sizeof(why));
		if (rc == JG_EDENIED && jg_session_grant_token_forget(conn, cookie, d->grant) == 0)
			rc = JG_ENOTFOUND; /* the mint below refuses them, saying why */
	} else if (rc == 0) {
		rc = JG_ENOTFOUND; /* under a minute left: renewed */
	}
	jg_store_release(app->store, conn);
	if (rc != 0 && token != NULL) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
		token = NULL;
	}
	if (rc != 0 && rc != JG_ENOTFOUND) {
		jg_web_error_page(&d->w, 503, "Unavailable",
				  "The token of this session cannot be read now; nothing was read.",
				  "/");
		return rc;
	}
	d->kept = token != NULL;
	if (token == NULL && (rc = mint(d, &token, why, sizeof(why))) != 0) {
		jg_web_error_page(&d->w, jg_http_status_of(rc, &code), "No token for this grant",
				  why, "/");
		return rc;
	}
	if ((rc = set_authorization(d, token)) != 0)
		jg_web_error_page(&d->w, 500, "Unavailable", "Out of memory.", "/");
	return rc;
}

bool
jg_web_debug_retry(struct jg_web_debug *d, const struct jg_api_error *e)
{
	struct jg_app *app = d->w.req->app;
	struct jg_store_conn *conn;
	char *token = NULL, why[256] = "";

	/* only a kept token, only once a load: a new token the guard refuses is shown */
	if (!d->kept || d->retried || !e->from_guard || e->status != 401)
		return false;
	d->retried = 1;
	if (jg_store_acquire(app->store, &conn) == 0) {
		if (jg_session_grant_token_forget(conn, jg_http_cookie(d->w.req, JG_SESSION_COOKIE),
						  d->grant) != 0)
			jg_log(JG_LOG_WARN, "debug page: a refused kept token could not be dropped",
			       NULL);
		jg_store_release(app->store, conn);
	}
	if (mint(d, &token, why, sizeof(why)) != 0)
		return false; /* the guard's refusal is shown */
	return set_authorization(d, token) == 0;
}

int
jg_web_debug_begin(struct jg_web_debug *d, struct jg_http_request *req, struct jg_http_reply *reply,
		   const char *capability)
{
	struct jg_app *app = req->app;

	memset(d, 0, sizeof(*d));
	d->service = jg_http_param(req, "svc");
	d->capability = capability;
	/* first: a cross-site request reads nothing, mints nothing, touches no session */
	if (!jg_web_fetch_site_ok(req)) {
		/*
		 * A top-level navigation (a link, the return from signing in, which
		 * comes through the provider's site): the same URL as a link on
		 * this page, which reads nothing; followed, it is same-origin.  A
		 * cross-site page cannot click it for the user: no frame may hold
		 * this page (frame-ancestors 'none').
		 */
		const char *mode = jg_http_header(req, "Sec-Fetch-Mode");
		struct jg_html self = {0};
		if (mode != NULL && strcmp(mode, "navigate") == 0 &&
		    jg_web_self_url(req, &self) != 0)
			jg_html_free(&self);
		jg_web_continue_page(
		    reply, 403, "Refused",
		    self.buf != NULL
			? "This page reads audited data, so it opens only from jitgate's own "
			  "pages, not from a link on another site (nor from the way back from "
			  "signing in). Nothing was read. Check that you meant to open it, then "
			  "continue."
			: "This page reads audited data, so it opens only from jitgate's own pages "
			  "(not from a link on another site, nor without the browser's "
			  "Sec-Fetch-Site header). Nothing was read. Open it from My access.",
		    self.buf);
		jg_html_free(&self);
		return -1;
	}
	d->begun = 1;
	if (jg_web_begin(&d->w, req, reply) != 0)
		return -1;
	if (jg_http_header(req, "Authorization") != NULL ||
	    strcmp(d->w.call.who.id.via, "session") != 0 ||
	    jg_http_cookie(req, JG_SESSION_COOKIE) == NULL) {
		jg_web_error_page(&d->w, 400, "Browser sessions only",
				  "The debugging pages work in a signed-in browser session; with a "
				  "capability token, call the API.",
				  "/");
		return -1;
	}
	if (app->session_grant_keys == NULL) {
		jg_web_error_page(&d->w, 503, "Unavailable",
				  "The debugging pages need a session-token key in key_dir (an "
				  "operator adds it with 'jitgate keys generate --kind "
				  "session-token'). Nothing was read.",
				  "/");
		return -1;
	}
	if (choose_grant(d) != 0 || session_token(d) != 0)
		return -1;
	return 0;
}

void
jg_web_debug_end(struct jg_web_debug *d)
{
	if (d->authorization != NULL) {
		OPENSSL_cleanse(d->authorization, strlen(d->authorization));
		free(d->authorization);
		d->authorization = NULL;
	}
	json_decref(d->grant_caps);
	d->grant_caps = NULL;
	if (d->begun)
		jg_web_end(&d->w);
}

void
jg_web_debug_page_start(struct jg_web_debug *d, const char *title, const char *page, int redacted)
{
	struct jg_html *h = &d->w.h;
	char when[40], left[32];

	jg_web_page_start(&d->w, title, NULL);
	jg_web_time(d->grant_end, when, sizeof(when));
	jg_web_left(d->grant_end - d->w.call.ctx.now, left, sizeof(left));
	JG_HTML(h, "<section class=\"debug-grant card\" aria-label=\"the grant in use\"><p>"
		   "Grant <code id=\"grant-id\">");
	jg_html_text(h, d->grant);
	JG_HTML(h, "</code> on <strong>");
	jg_html_text(h, d->service);
	JG_HTML(h, "</strong> (");
	jg_web_join(h, d->grant_caps);
	JG_HTML(h, "), until <span id=\"grant-end\">");
	jg_html_text(h, when);
	JG_HTML(h, "</span> (<span class=\"countdown\" data-until=\"");
	jg_html_textf(h, "%lld", (long long)d->grant_end);
	JG_HTML(h, "\">");
	jg_html_text(h, left);
	JG_HTML(h, "</span> left).</p>");
	if (redacted)
		JG_HTML(h, "<p class=\"notice warn\" id=\"pii-state\" data-pii=\"redacted\">"
			   "<span class=\"flag flag-redacted\">Redacted</span> Personal data is "
			   "replaced by markers: this grant does not hold read-pii.</p>");
	else
		JG_HTML(h, "<p class=\"notice ok\" id=\"pii-state\" data-pii=\"shown\">"
			   "<span class=\"flag flag-pii\">read-pii</span> Personal data is shown "
			   "unredacted; every read says so in the audit log.</p>");
	jg_web_debug_links(h, d->service, d->grant, d->grant_caps, page);
	JG_HTML(h, "</section>");
}

void
jg_web_debug_error(struct jg_web_debug *d, const char *title, const struct jg_api_error *e)
{
	char secs[16];
	jg_web_error_page(&d->w, e->status ? e->status : 500, title, e->message, "/");
	if (e->from_guard && e->status == 429) {
		snprintf(secs, sizeof(secs), "%d", e->guard.limit.retry_after);
		jg_http_reply_header(d->w.reply, "Retry-After", secs);
	}
}

void
jg_web_debug_show(struct jg_web_debug *d, const struct jg_web_debug_page *p, void *arg)
{
	struct jg_api_error e;
	json_t *result = NULL;
	char title[160];
	int rc;

	if (p->title_of != NULL)
		p->title_of(d, arg, title, sizeof(title));
	else
		snprintf(title, sizeof(title), "%s %s", p->title, d->service);
	rc = p->read(d, arg, &result, &e);
	if (rc != 0 && jg_web_debug_retry(d, &e)) {
		json_decref(result);
		result = NULL;
		rc = p->read(d, arg, &result, &e);
	}
	if (rc != 0 && (p->form == NULL || e.status != 400)) {
		jg_web_debug_error(d, title, &e);
		goto out;
	}
	struct jg_html *h = &d->w.h;
	/* marked by what was read; a bad argument read nothing: by the grant */
	jg_web_debug_page_start(d, title, p->page,
				result != NULL ? json_is_true(json_object_get(result, "redacted"))
					       : !d->grant_pii);
	if (p->form != NULL)
		p->form(d, arg);
	if (rc != 0) {
		/* a bad argument: the form again, and what is wrong (nothing read or recorded) */
		JG_HTML(h, "<p class=\"notice error\" role=\"alert\">");
		jg_html_text(h, e.message);
		JG_HTML(h, "</p>");
		jg_web_page_finish(&d->w, 400);
		goto out;
	}
	jg_web_page_finish(&d->w, p->render(d, arg, result));
	jg_http_reply_header(d->w.reply, "Cache-Control", "no-store"); /* as the API's answer */
out:
	json_decref(result);
}

void
jg_web_debug_run(struct jg_http_request *req, struct jg_http_reply *reply,
		 const struct jg_web_debug_page *p, void *arg)
{
	struct jg_web_debug d;

	if (p->args != NULL &&
	    jg_web_debug_without_empty_args(req, reply, p->page, p->args, p->nargs))
		return;
	if (jg_web_debug_begin(&d, req, reply, p->capability) == 0)
		jg_web_debug_show(&d, p, arg);
	jg_web_debug_end(&d);
}

/*
 * A search form sends its empty fields too (since=&until=), which the API
 * refuses: such a URL is answered with a 303 to the same search without
 * them (nothing read), so the read sees only what was asked and every link
 * stays short.  Only args (the page's own) are kept, each value of a
 * repeated one (attr=a&attr=b) in order.  Returns true when it redirected.
 */
bool
jg_web_debug_without_empty_args(struct jg_http_request *req, struct jg_http_reply *reply,
				const char *page, const char *const *args, size_t nargs)
{
	const char *vals[DEBUG_ARG_VALUES_MAX];
	size_t lens[DEBUG_ARG_VALUES_MAX], nv;
	struct jg_html loc = {0};
	int empty = 0, n = 0;

	for (size_t i = 0; i < nargs; i++) {
		if (jg_http_query_all(req, args[i], vals, lens, DEBUG_ARG_VALUES_MAX, &nv) != 0)
			continue; /* too many: the read refuses them with its own 400 */
		for (size_t k = 0; k < nv; k++)
			empty |= lens[k] == 0;
	}
	if (!empty)
		return false;
	JG_HTML(&loc, "/debug/");
	jg_html_url_part(&loc, jg_http_param(req, "svc"));
	JG_HTML(&loc, "/");
	jg_html_text(&loc, page);
	for (size_t i = 0; i < nargs; i++) {
		if (jg_http_query_all(req, args[i], vals, lens, DEBUG_ARG_VALUES_MAX, &nv) != 0)
			nv = 0;
		for (size_t k = 0; k < nv; k++) {
			if (lens[k] == 0)
				continue;
			if (n++ == 0)
				JG_HTML(&loc, "?");
			else
				JG_HTML(&loc, "&");
			jg_html_text(&loc, args[i]);
			JG_HTML(&loc, "=");
			jg_html_url_part(&loc, vals[k]);
		}
	}
	if (loc.failed || loc.buf == NULL || loc.len > 2000)
		jg_web_message_page(reply, 400, "Too long", "This search is too long.");
	else
		jg_web_redirect(reply, loc.buf);
	jg_html_free(&loc);
	return true;
}
