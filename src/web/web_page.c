/*
 * page.c - building pages: the escaping HTML buffer, the page frame (head,
 * who is signed in, navigation, sign-out), and the words for states and
 * decisions that every page uses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/web.h"
#include "web_int.h"

/*
 * Pages load only their own stylesheet and script; fetch() of the live
 * preview goes to the same origin; forms post only here; no framing.
 */
#define WEB_CSP                                                                                    \
	"default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "                \
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

#define PAGE_MAX (8u << 20) /* a page larger than this is a bug, not a page */

static void
append(struct jg_html *h, const char *s, size_t n)
{
	if (h->failed)
		return;
	if (h->len + n + 1 > h->cap) {
		size_t cap = h->cap ? h->cap : 16384;
		while (cap < h->len + n + 1)
			cap *= 2;
		char *grown = cap <= PAGE_MAX ? realloc(h->buf, cap) : NULL;
		if (grown == NULL) {
			h->failed = 1;
			return;
		}
		h->buf = grown;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

void
jg_html_markup_(struct jg_html *h, const char *literal)
{
	append(h, literal, strlen(literal));
}

void
jg_html_text(struct jg_html *h, const char *text)
{
	if (text == NULL)
		return;
	char *e = jg_html_escape(text);
	if (e == NULL) {
		h->failed = 1;
		return;
	}
	append(h, e, strlen(e));
	free(e);
}

void
jg_html_textf(struct jg_html *h, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		h->failed = 1;
		return;
	}
	jg_html_text(h, s);
	free(s);
}

void
jg_html_url_part(struct jg_html *h, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)value; p && *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p) != NULL) {
			append(h, (const char *)p, 1);
		} else {
			char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			append(h, enc, 3);
		}
	}
}

/* len bytes of s percent-encoded; '/' kept as it is when path. */
static void
url_bytes(struct jg_html *h, const char *s, size_t len, int path)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr("-_.~", c) != NULL) || (path && c == '/')) {
			append(h, (const char *)&s[i], 1);
		} else {
			char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
			append(h, enc, 3);
		}
	}
}

static int
self_arg(void *ctx, const char *name, const char *value, size_t len)
{
	struct jg_html *h = ctx;
	append(h, h->len > 0 && memchr(h->buf, '?', h->len) ? "&" : "?", 1);
	url_bytes(h, name, strlen(name), 0);
	append(h, "=", 1);
	url_bytes(h, value, len, 0);
	return h->failed || h->len > JG_WEB_SELF_URL_MAX;
}

int
jg_web_self_url(const struct jg_http_request *req, struct jg_html *out)
{
	memset(out, 0, sizeof(*out));
	url_bytes(out, req->path, strlen(req->path), 1);
	jg_http_query_each(req, self_arg, out);
	/* only a path of this site ("//host" would leave it), and bounded */
	if (out->failed || out->buf == NULL || out->len > JG_WEB_SELF_URL_MAX ||
	    out->buf[0] != '/' || out->buf[1] == '/') {
		jg_html_free(out);
		return JG_EINVAL;
	}
	return 0;
}

void
jg_html_free(struct jg_html *h)
{
	free(h->buf);
	memset(h, 0, sizeof(*h));
}

static void message_page(struct jg_http_reply *reply, int status, const char *title,
			 const char *message);

/* ---- the caller ----------------------------------------------------------- */

static void
reply_clear(struct jg_http_reply *reply)
{
	free(reply->body);
	reply->body = NULL;
	reply->body_len = 0;
	json_decref(reply->headers);
	reply->headers = NULL;
}

void
jg_web_redirect(struct jg_http_reply *reply, const char *location)
{
	reply_clear(reply);
	jg_http_reply_redirect(reply, 303, location);
}

/* The API's 429 (throttle.h) said to a browser: its message and its Retry-After. */
static void
too_many_page(struct jg_http_reply *reply)
{
	char message[512] = "Too many attempts; try again later.", secs[16] = "";
	json_t *body = json_loadb(reply->body ? reply->body : "", reply->body_len, 0, NULL);
	const char *m =
	    json_string_value(json_object_get(json_object_get(body, "error"), "message"));
	size_t i;
	json_t *h;

	if (m != NULL)
		snprintf(message, sizeof(message), "%s", m);
	json_array_foreach(reply->headers, i, h)
	{
		const char *name = json_string_value(json_array_get(h, 0));
		const char *value = json_string_value(json_array_get(h, 1));
		if (name && value && strcasecmp(name, "Retry-After") == 0)
			snprintf(secs, sizeof(secs), "%s", value);
	}
	json_decref(body);
	message_page(reply, 429, "Too many attempts", message);
	if (secs[0] != '\0')
		jg_http_reply_header(reply, "Retry-After", secs);
}

int
jg_web_begin(struct jg_web *w, struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;

	memset(w, 0, sizeof(*w));
	w->req = req;
	w->reply = reply;
	if (jg_api_call_begin(req, reply, &w->call) != 0) {
		/* the API's refusal, said to a browser; nothing was done */
		if (reply->status == 401 && strcmp(req->method, "GET") == 0) {
			/* no (live) session: sign in and come back here, query and all */
			struct jg_html self, to = {0};
			if (jg_web_self_url(req, &self) == 0) {
				JG_HTML(&to, "/auth/login?return_to=");
				jg_html_url_part(&to, self.buf);
				jg_html_free(&self);
			}
			jg_web_redirect(reply,
					to.buf != NULL && !to.failed ? to.buf : "/auth/login");
			jg_html_free(&to);
		} else if (reply->status == 401) {
			jg_web_redirect(reply, "/auth/login");
		} else if (reply->status == 429) {
			too_many_page(reply);
		} else if (reply->status == 403) {
			message_page(
			    reply, 403, "Refused",
			    "This form did not carry this session's CSRF token, so nothing was "
			    "done. Go back, reload the page and try again.");
		} else {
			message_page(reply, reply->status ? reply->status : 500, "Unavailable",
				     "Signing in cannot be checked right now; nothing was done.");
		}
		return -1;
	}
	w->is_auditor = jg_identity_in_groups(&w->call.who.id, app->cfg->auth_auditor_groups);
	return 0;
}

void
jg_web_end(struct jg_web *w)
{
	jg_api_call_end(&w->call);
	jg_html_free(&w->h);
}

/* ---- the frame ------------------------------------------------------------ */

static void
head(struct jg_html *h, const char *title)
{
	JG_HTML(h, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		   "<title>");
	jg_html_text(h, title);
	JG_HTML(h, " - jitgate</title><link rel=\"stylesheet\" href=\"/static/jitgate.css\">"
		   "<script src=\"/static/jitgate.js\" defer></script></head>\n<body>");
}

static void
nav_link(struct jg_html *h, const char *nav, const char *key, const char *href, const char *label)
{
	JG_HTML(h, "<a href=\"");
	jg_html_text(h, href);
	JG_HTML(h, "\"");
	if (nav && strcmp(nav, key) == 0)
		JG_HTML(h, " aria-current=\"page\"");
	JG_HTML(h, ">");
	jg_html_text(h, label);
	JG_HTML(h, "</a>");
}

void
jg_web_csrf_field(struct jg_web *w)
{
	JG_HTML(&w->h, "<input type=\"hidden\" name=\"csrf\" value=\"");
	jg_html_text(&w->h, w->call.who.csrf);
	JG_HTML(&w->h, "\">");
}

void
jg_web_page_start(struct jg_web *w, const char *title, const char *nav)
{
	struct jg_html *h = &w->h;
	const struct jg_identity *id = &w->call.who.id;

	head(h, title);
	JG_HTML(h, "<header class=\"top\"><a class=\"brand\" href=\"/\">jitgate</a><nav>");
	nav_link(h, nav, "access", "/", "My access");
	nav_link(h, nav, "request", "/request", "Request access");
	nav_link(h, nav, "approvals", "/approvals", "Approvals");
	if (w->is_auditor)
		nav_link(h, nav, "audit", "/audit", "Audit");
	if (w->is_auditor)
		nav_link(h, nav, "reports", "/reports/access", "Access reviews");
	JG_HTML(h, "</nav><div class=\"who\"><p id=\"who\">Signed in as ");
	jg_html_textf(h, "%s (%s)", id->name[0] ? id->name : id->sub, id->sub);
	JG_HTML(h, "; groups: ");
	for (size_t i = 0; i < id->ngroups; i++) {
		if (i)
			JG_HTML(h, ", ");
		jg_html_text(h, id->groups[i]);
	}
	if (id->ngroups == 0)
		JG_HTML(h, "none");
	JG_HTML(h, ".</p>");
	if (w->call.who.csrf[0]) { /* a browser session: it can be ended here */
		JG_HTML(h, "<form method=\"post\" action=\"/auth/logout\">");
		jg_web_csrf_field(w);
		JG_HTML(h, "<button type=\"submit\" class=\"link\">Sign out</button></form>");
	}
	JG_HTML(h, "</div></header>\n<main>");
	JG_HTML(h, "<h1>");
	jg_html_text(h, title);
	JG_HTML(h, "</h1>");
}

void
jg_web_set_html(struct jg_http_reply *reply)
{
	reply->content_type = "text/html; charset=utf-8";
	jg_http_reply_header(reply, "Content-Security-Policy", WEB_CSP);
}

static void
finish(struct jg_http_reply *reply, struct jg_html *h, int status)
{
	JG_HTML(h, "</main>\n<footer><p>jitgate: just-in-time debug access. Every action here is "
		   "recorded in the audit log.</p></footer></body></html>\n");
	if (h->failed) {
		jg_http_reply_error(reply, 500, "internal_error", "the page could not be built");
		return;
	}
	reply_clear(reply);
	reply->status = status;
	reply->body = h->buf;
	reply->body_len = h->len;
	h->buf = NULL; /* transferred to the reply */
	h->len = h->cap = 0;
	jg_web_set_html(reply);
}

void
jg_web_page_finish(struct jg_web *w, int status)
{
	finish(w->reply, &w->h, status);
}

void
jg_web_signin_page(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_html h = {0};
	(void)req;
	head(&h, "Sign in");
	JG_HTML(&h,
		"<header class=\"top\"><a class=\"brand\" href=\"/\">jitgate</a></header>\n"
		"<main><h1>Just-in-time debug access</h1>"
		"<p>Ask for narrow, time-limited access to a production service, approve your "
		"colleagues' requests, or audit who did what.</p>"
		"<p><a class=\"button\" href=\"/auth/login\">Sign in with single sign-on</a></p>");
	finish(reply, &h, 200);
	jg_html_free(&h);
}

void
jg_web_message_page(struct jg_http_reply *reply, int status, const char *title, const char *message)
{
	message_page(reply, status, title, message);
}

void
jg_web_continue_page(struct jg_http_reply *reply, int status, const char *title,
		     const char *message, const char *href)
{
	struct jg_html h = {0};
	head(&h, title);
	JG_HTML(&h, "<header class=\"top\"><a class=\"brand\" href=\"/\">jitgate</a></header>\n"
		    "<main><h1>");
	jg_html_text(&h, title);
	JG_HTML(&h, "</h1><p class=\"notice error\" role=\"alert\">");
	jg_html_text(&h, message);
	JG_HTML(&h, "</p><p>");
	if (href != NULL) {
		JG_HTML(&h, "<a class=\"button\" id=\"continue\" href=\"");
		jg_html_text(&h, href);
		JG_HTML(&h, "\">Continue</a> ");
	}
	JG_HTML(&h, "<a href=\"/\">jitgate</a></p>");
	finish(reply, &h, status);
	jg_html_free(&h);
}

/* A page for someone who may not be signed in (no header with a caller). */
static void
message_page(struct jg_http_reply *reply, int status, const char *title, const char *message)
{
	jg_web_continue_page(reply, status, title, message, NULL);
}

void
jg_web_error_page(struct jg_web *w, int status, const char *title, const char *message,
		  const char *back)
{
	jg_html_free(&w->h);
	jg_web_page_start(w, title, NULL);
	JG_HTML(&w->h, "<p class=\"notice error\" role=\"alert\">");
	jg_html_text(&w->h, message);
	JG_HTML(&w->h, "</p><p><a href=\"");
	jg_html_text(&w->h, back);
	JG_HTML(&w->h, "\">Back</a></p>");
	jg_web_page_finish(w, status);
}

/* ---- words ------------------------------------------------------------------ */

void
jg_web_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, len, "-");
}

void
jg_web_left(int64_t secs, char *buf, size_t len)
{
	if (secs <= 0)
		snprintf(buf, len, "ended");
	else if (secs >= 86400)
		snprintf(buf, len, "%lldd %lldh", (long long)(secs / 86400),
			 (long long)(secs % 86400 / 3600));
	else if (secs >= 3600)
		snprintf(buf, len, "%lldh %lldm", (long long)(secs / 3600),
			 (long long)(secs % 3600 / 60));
	else
		snprintf(buf, len, "%lldm %llds", (long long)(secs / 60), (long long)(secs % 60));
}

const char *
jg_web_state_text(const char *state)
{
	static const struct {
		const char *state, *text;
	} words[] = {
	    {"pending", "needs approval"},    {"active", "active"},	  {"denied", "denied"},
	    {"cancelled", "cancelled"},	      {"expired", "expired"},	  {"revoked", "revoked"},
	    {"granted", "extension granted"}, {"scheduled", "scheduled"},
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(state, words[i].state) == 0)
			return words[i].text;
	return state;
}

void
jg_web_join(struct jg_html *h, json_t *array)
{
	size_t i;
	json_t *v;
	json_array_foreach(array, i, v)
	{
		if (i)
			JG_HTML(h, ", ");
		jg_html_text(h, json_string_value(v));
	}
}

/* "1 approval from payments-leads or sre-leads" */
/* "a, b, user c": who may approve a requirement. */
static void
approvers_text(struct jg_html *h, json_t *who)
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(json_object_get(who, "groups"), i, v)
	{
		if (n++)
			JG_HTML(h, ", ");
		jg_html_text(h, json_string_value(v));
	}
	json_array_foreach(json_object_get(who, "users"), i, v)
	{
		if (n++)
			JG_HTML(h, ", ");
		jg_html_textf(h, "user %s", json_string_value(v));
	}
}

void
jg_web_approvals_text(struct jg_html *h, json_t *r)
{
	json_t *approvals = json_object_get(r, "approvals"),
	       *reqs = json_object_get(r, "requirements");
	size_t i, j;
	json_t *a, *p;
	int n = 0, sharing = 1;

	/* an approval counting toward two shared requirements is listed twice: name it once */
	json_array_foreach(approvals, i, a)
	{
		const char *who = json_string_value(json_object_get(a, "approver"));
		for (j = 0; j < i; j++)
			if (strcmp(json_string_value(
				       json_object_get(json_array_get(approvals, j), "approver")),
				   who) == 0)
				break;
		if (j < i)
			continue;
		if (n++)
			JG_HTML(h, ", ");
		else
			JG_HTML(h, "approved by ");
		jg_html_text(h, who);
	}
	json_array_foreach(reqs, i, p)
	{
		json_int_t need = json_integer_value(json_object_get(p, "count")),
			   got = json_integer_value(json_object_get(p, "approved"));
		if (n++)
			JG_HTML(h, "; ");
		jg_html_textf(h, "%lld of %lld from ", (long long)got, (long long)need);
		approvers_text(h, json_object_get(p, "approvers"));
		if (!json_is_true(json_object_get(p, "shared_approvers")))
			sharing = 0;
	}
	if (json_array_size(reqs) > 1 && !sharing)
		JG_HTML(h, " (one person counts toward one of these)");
	if (n == 0)
		JG_HTML(h, "none needed");
}

static void
requirement_text(struct jg_html *h, json_t *r)
{
	json_t *who = json_object_get(r, "approvers");
	json_int_t count = json_integer_value(json_object_get(r, "count"));
	size_t i, n = 0;
	json_t *v;

	jg_html_textf(h, "%lld approval%s from ", (long long)count, count == 1 ? "" : "s");
	json_array_foreach(json_object_get(who, "groups"), i, v)
	{
		if (n++)
			JG_HTML(h, " or ");
		jg_html_text(h, json_string_value(v));
	}
	json_array_foreach(json_object_get(who, "users"), i, v)
	{
		if (n++)
			JG_HTML(h, " or ");
		jg_html_textf(h, "user %s", json_string_value(v));
	}
}

void
jg_web_decision_text(struct jg_html *h, json_t *d)
{
	const char *outcome = json_string_value(json_object_get(d, "decision"));
	char max[32];

	if (outcome == NULL) {
		JG_HTML(h, "unknown");
		return;
	}
	if (strcmp(outcome, "deny") == 0) {
		JG_HTML(h, "<strong class=\"deny\">denied</strong>: ");
		jg_html_text(h, json_string_value(json_object_get(d, "reason")));
		return;
	}
	if (strcmp(outcome, "grant") == 0) {
		JG_HTML(h, "<strong class=\"grant\">granted at once</strong>");
		if (json_is_true(json_object_get(d, "break_glass")))
			JG_HTML(h,
				" through break-glass (flagged; approvers review it afterwards)");
	} else {
		size_t i;
		json_t *r;
		JG_HTML(h, "<strong class=\"pending\">needs approval</strong>: ");
		json_array_foreach(json_object_get(d, "requirements"), i, r)
		{
			if (i)
				JG_HTML(h, ", and ");
			requirement_text(h, r);
		}
	}
	json_int_t m = json_integer_value(json_object_get(d, "max_duration"));
	if (m > 0) {
		jg_policy_duration_format(m, max, sizeof(max));
		jg_html_textf(h, " (at most %s)", max);
	}
}

/* ---- routes ---------------------------------------------------------------- */

void
jg_web_home(struct jg_http_request *req, struct jg_http_reply *reply)
{
	const char *cookie = jg_http_cookie(req, JG_SESSION_COOKIE);
	/* a visitor: the sign-in page; a caller: their access (access.c) */
	if (cookie == NULL && jg_http_header(req, "Authorization") == NULL) {
		jg_web_signin_page(req, reply);
		return;
	}
	jg_web_access_page(req, reply);
}

static const struct jg_route routes[] = {
    {"GET", "/", jg_web_home, NULL, 0},
};
const struct jg_route_table jg_web_page_routes = {routes, sizeof(routes) / sizeof(routes[0])};
