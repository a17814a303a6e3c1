/*
 * access.c (web) - "My access": the caller's requests and grants, and the
 * buttons that act on them (cancel, revoke, issue a token).
 *
 *   GET  /                         the list (the home page of a signed-in caller)
 *   POST /requests/{id}/cancel     jg_access_cancel()    (as POST /v1/requests/{id}/cancel)
 *   POST /grants/{id}/revoke       jg_access_revoke()    (as POST /v1/grants/{id}/revoke)
 *   POST /grants/{id}/token        jg_token_issue_for_holder()  (as POST /v1/grants/{id}/token);
 *                                  the token is shown once on the reply page
 *   POST /grants/{id}/extend       jg_api_request_extend() (as POST /v1/requests/{id}/extend,
 *                                  the same limits) with the form's duration and justification
 *
 * An active grant links to the debugging pages its capabilities allow on its
 * service (/debug/{svc}/logs|traces|metrics|probes?grant=<id>, web_debug.c).
 * An active grant that is not break-glass offers "Extend" (a duration and
 * why) unless an extension of it is already waiting; an extension shows the
 * grant it extends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/token_issue.h"
#include "jitgate/web.h"
#include "web_int.h"

#define REASON_MAX 1000

void
jg_web_ok_notice(struct jg_web *w)
{
	static const struct {
		const char *key, *text;
	} done[] = {
	    {"created", "Your request was recorded."},
	    {"cancelled", "The request was cancelled."},
	    {"revoked", "The grant was revoked."},
	    {"extended", "Your extension was recorded: its state is shown below."},
	    {"approved", "Approved."},
	    {"denied", "Denied."},
	    {"reviewed", "The break-glass grant is marked as reviewed."},
	    {"checkpoint", "A checkpoint of the log as it is now was signed."},
	};
	const char *ok = jg_http_query(w->req, "ok");
	for (size_t i = 0; ok && i < sizeof(done) / sizeof(done[0]); i++)
		if (strcmp(ok, done[i].key) == 0) {
			JG_HTML(&w->h, "<p class=\"notice ok\" role=\"status\">");
			jg_html_text(&w->h, done[i].text);
			JG_HTML(&w->h, "</p>");
		}
}

/* A countdown the script keeps current; without it the server's figure stands. */
static void
countdown(struct jg_html *h, int64_t until, int64_t now)
{
	char left[32];
	jg_web_left(until - now, left, sizeof(left));
	JG_HTML(h, "<span class=\"countdown\" data-until=\"");
	jg_html_textf(h, "%lld", (long long)until);
	JG_HTML(h, "\">");
	jg_html_text(h, left);
	JG_HTML(h, "</span>");
}

static void
action_form(struct jg_web *w, const char *path_a, const char *id, const char *path_b,
	    const char *label, const char *cls, int with_reason)
{
	struct jg_html *h = &w->h;
	JG_HTML(h, "<form method=\"post\" class=\"inline\" action=\"");
	jg_html_text(h, path_a);
	jg_html_url_part(h, id);
	jg_html_text(h, path_b);
	JG_HTML(h, "\">");
	jg_web_csrf_field(w);
	if (with_reason)
		JG_HTML(h, "<input type=\"text\" name=\"reason\" maxlength=\"1000\" "
			   "placeholder=\"reason (optional)\" aria-label=\"reason\">");
	JG_HTML(h, "<button type=\"submit\" class=\"");
	jg_html_text(h, cls);
	JG_HTML(h, "\">");
	jg_html_text(h, label);
	JG_HTML(h, "</button></form>");
}

/* The id of grant r's extension waiting for approval; NULL when none. */
static const char *
pending_extension(json_t *r)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(r, "extensions"), i, e)
	{
		const char *st = json_string_value(json_object_get(e, "state"));
		if (st != NULL && strcmp(st, "pending") == 0)
			return json_string_value(json_object_get(e, "id"));
	}
	return NULL;
}

/* "Extend": by how long and why (the policy decides, as for a request). */
static void
extend_form(struct jg_web *w, const char *id)
{
	struct jg_html *h = &w->h;
	JG_HTML(h, "<form method=\"post\" class=\"inline extend\" action=\"/grants/");
	jg_html_url_part(h, id);
	JG_HTML(h, "/extend\">");
	jg_web_csrf_field(w);
	JG_HTML(h,
		"<input type=\"text\" name=\"duration\" required maxlength=\"16\" "
		"placeholder=\"longer by, e.g. 30m\" aria-label=\"extend by\">"
		"<input type=\"text\" name=\"justification\" required maxlength=\"4096\" "
		"placeholder=\"why it needs longer\" aria-label=\"justification of the extension\">"
		"<button type=\"submit\" class=\"secondary\">Extend</button></form>");
}

/*
 * What a grant was used for: its receipt once it ended (the grant.receipt
 * audit entry, covered by the signed checkpoints), else its use so far;
 * a grant with no guarded call is flagged "granted but never used".
 */
static void
usage_rows(struct jg_html *h, json_t *r)
{
	static const struct {
		const char *key, *one, *many;
	} counts[] = {
	    {"log_queries", "log query", "log queries"},
	    {"trace_reads", "trace read", "trace reads"},
	    {"metric_reads", "metric read", "metric reads"},
	    {"probes_deployed", "probe deployed", "probes deployed"},
	    {"probe_calls", "other probe call", "other probe calls"},
	    {"probe_events", "probe event stored", "probe events stored"},
	    {"probe_bytes", "byte of probe events", "bytes of probe events"},
	    {"probe_budget_exhausted", "probe budget spent", "probe budget limits spent"},
	    {"pii_reads", "read with read-pii", "reads with read-pii"},
	    {"tokens_issued", "token issued", "tokens issued"},
	    {"refusals", "refused call", "refused calls"},
	};
	json_t *receipt = json_object_get(r, "receipt");
	json_t *u = receipt ? receipt : json_object_get(r, "usage");
	int shown = 0;

	if (u == NULL)
		return;
	if (receipt != NULL)
		JG_HTML(h, "<dt>Receipt</dt><dd class=\"receipt\">");
	else
		JG_HTML(h, "<dt>Used so far</dt><dd class=\"usage\">");
	/* flagged once it ended unused; while it runs, only "not used yet" */
	if (json_is_true(json_object_get(r, "unused")) && receipt != NULL)
		JG_HTML(h, "<span class=\"flag flag-unused\">Granted but never used</span> ");
	else if (json_is_true(json_object_get(r, "unused")))
		JG_HTML(h, "<span class=\"flag\">Not used yet</span> ");
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		json_int_t v = json_integer_value(json_object_get(u, counts[i].key));
		if (v == 0)
			continue;
		if (shown++ > 0)
			JG_HTML(h, ", ");
		jg_html_textf(h, "%lld ", (long long)v);
		jg_html_text(h, v == 1 ? counts[i].one : counts[i].many);
	}
	if (shown == 0)
		JG_HTML(h, "no guarded call");
	if (receipt != NULL) {
		JG_HTML(h, " <small>(audit entry <code>");
		jg_html_textf(h, "%lld",
			      (long long)json_integer_value(json_object_get(receipt, "last_seq")) +
				  1);
		JG_HTML(h, "</code>; <code>jitgate audit receipt</code> recomputes it)</small>");
	}
	JG_HTML(h, "</dd>");
}

static void
request_card(struct jg_web *w, json_t *r)
{
	struct jg_html *h = &w->h;
	const char *id = json_string_value(json_object_get(r, "id")),
		   *state = json_string_value(json_object_get(r, "state"));
	int64_t now = w->call.ctx.now;
	char when[40], dur[32];

	JG_HTML(h, "<article class=\"card\" data-request=\"");
	jg_html_text(h, id);
	JG_HTML(h, "\"><h2>");
	jg_html_text(h, json_string_value(json_object_get(r, "service")));
	JG_HTML(h, " <span class=\"state state-");
	jg_html_text(h, state);
	JG_HTML(h, "\">");
	jg_html_text(h, jg_web_state_text(state));
	if (json_is_true(json_object_get(r, "break_glass")))
		JG_HTML(h, " · break-glass");
	JG_HTML(h, "</span></h2><dl><dt>Capabilities</dt><dd>");
	jg_web_join(h, json_object_get(r, "capabilities"));
	jg_policy_duration_format(json_integer_value(json_object_get(r, "duration")), dur,
				  sizeof(dur));
	JG_HTML(h, "</dd><dt>Duration</dt><dd>");
	jg_html_text(h, dur);
	JG_HTML(h, "</dd><dt>Justification</dt><dd class=\"just\">");
	jg_html_text(h, json_string_value(json_object_get(r, "justification")));
	JG_HTML(h, "</dd><dt>Approvals</dt><dd>");
	jg_web_approvals_text(h, r);
	JG_HTML(h, "</dd>");
	const char *extends = json_string_value(json_object_get(r, "extends"));
	if (extends != NULL) {
		JG_HTML(h, "<dt>Extends</dt><dd>the grant <code>");
		jg_html_text(h, extends);
		JG_HTML(h, "</code> by the duration above</dd>");
	}
	const char *waiting = pending_extension(r);
	if (waiting != NULL) {
		JG_HTML(h, "<dt>Extension</dt><dd class=\"extension-pending\">waiting for approval "
			   "(<code>");
		jg_html_text(h, waiting);
		JG_HTML(h, "</code>); until then the grant ends as shown</dd>");
	}
	int64_t start = json_integer_value(json_object_get(r, "starts_at"));
	if (start > 0) {
		jg_web_time(start, when, sizeof(when));
		JG_HTML(h, "<dt>Starts</dt><dd class=\"starts\">");
		jg_html_text(h, when);
		if (strcmp(state, "scheduled") == 0 || strcmp(state, "pending") == 0) {
			JG_HTML(h, " (in ");
			countdown(h, start, now);
			JG_HTML(h, ")");
		}
		JG_HTML(h, "</dd>");
	}
	if (strcmp(state, "scheduled") == 0) {
		jg_web_time(json_integer_value(json_object_get(r, "expires_at")), when,
			    sizeof(when));
		JG_HTML(h, "<dt>Until</dt><dd>");
		jg_html_text(h, when);
		JG_HTML(h, " (approved; tokens can be issued once it starts)</dd>");
	} else if (strcmp(state, "active") == 0) {
		int64_t exp = json_integer_value(json_object_get(r, "expires_at"));
		jg_web_time(exp, when, sizeof(when));
		JG_HTML(h, "<dt>Time left</dt><dd>");
		countdown(h, exp, now);
		JG_HTML(h, " (until ");
		jg_html_text(h, when);
		JG_HTML(h, ")</dd>");
	} else if (strcmp(state, "pending") == 0) {
		JG_HTML(h, "<dt>Waits until</dt><dd>");
		countdown(h, json_integer_value(json_object_get(r, "pending_until")), now);
		JG_HTML(h, "</dd>");
	} else if (json_object_get(r, "ended_at")) {
		jg_web_time(json_integer_value(json_object_get(r, "ended_at")), when, sizeof(when));
		JG_HTML(h, "<dt>Ended</dt><dd>");
		jg_html_text(h, when);
		const char *why = json_string_value(json_object_get(r, "end_reason"));
		if (why && why[0]) {
			JG_HTML(h, ": ");
			jg_html_text(h, why);
		}
		JG_HTML(h, "</dd>");
	}
	usage_rows(h, r);
	JG_HTML(h, "<dt>Request</dt><dd><code>");
	jg_html_text(h, id);
	JG_HTML(h, "</code></dd></dl><div class=\"actions\">");
	if (strcmp(state, "pending") == 0 || strcmp(state, "scheduled") == 0)
		action_form(w, "/requests/", id, "/cancel", "Cancel request", "secondary", 0);
	if (strcmp(state, "active") == 0) {
		/* the debugging pages its capabilities allow, with this grant */
		jg_web_debug_links(h, json_string_value(json_object_get(r, "service")), id,
				   json_object_get(r, "capabilities"), NULL);
		action_form(w, "/grants/", id, "/token", "Issue a token", "primary", 0);
		action_form(w, "/grants/", id, "/revoke", "Revoke", "danger", 1);
		if (!json_is_true(json_object_get(r, "break_glass")) && waiting == NULL)
			extend_form(w, id);
	}
	JG_HTML(h, "</div></article>");
}

void
jg_web_access_page(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;
	struct jg_access_filter f = {.mine = 1};
	json_t *out = NULL;
	char why[256] = "";

	if (jg_web_begin(&w, req, reply) != 0)
		goto out;
	int rc = jg_access_list(&w.call.ctx, &w.call.caller, &f, &out, why, sizeof(why));
	if (rc != 0) {
		const char *code;
		jg_web_error_page(&w, jg_http_status_of(rc, &code), "My access", why, "/");
		goto out;
	}
	jg_web_page_start(&w, "My access", "access");
	jg_web_ok_notice(&w);
	json_t *list = json_object_get(out, "requests");
	if (json_array_size(list) == 0)
		JG_HTML(
		    &w.h,
		    "<p>You have no requests yet. <a href=\"/request\">Request access</a>.</p>");
	size_t i;
	json_t *r;
	json_array_foreach(list, i, r)
	{
		request_card(&w, r);
	}
	jg_web_page_finish(&w, 200);
out:
	json_decref(out);
	jg_web_end(&w);
}

enum act { CANCEL, REVOKE };

/* POST /requests/{id}/cancel and /grants/{id}/revoke: the route's arg says which. */
static void
act(struct jg_http_request *req, struct jg_http_reply *reply)
{
	const enum act a = *(const enum act *)req->route.route->arg;
	struct jg_web w;
	json_t *out = NULL;
	char why[512] = "", reason[REASON_MAX + 2] = "";
	const char *id = jg_http_param(req, "id");
	int rc;

	if (jg_web_begin(&w, req, reply) != 0)
		goto out;
	if (a == CANCEL) {
		rc = jg_access_cancel(&w.call.ctx, &w.call.caller, id, &out, why, sizeof(why));
	} else {
		rc = jg_http_form_field(req, "reason", reason, sizeof(reason));
		if (rc == JG_ETOOBIG || rc == JG_EINVAL) {
			jg_web_error_page(&w, 400, "Not revoked",
					  rc == JG_ETOOBIG ? "The reason is too long."
							   : "The reason must be UTF-8 text.",
					  "/");
			goto out;
		}
		rc = jg_access_revoke(&w.call.ctx, &w.call.caller, id, reason[0] ? reason : NULL,
				      &out, why, sizeof(why));
	}
	if (rc != 0) {
		const char *code;
		jg_web_error_page(&w, jg_http_status_of(rc, &code),
				  a == CANCEL ? "Not cancelled" : "Not revoked", why, "/");
		goto out;
	}
	jg_web_redirect(reply, a == CANCEL ? "/?ok=cancelled" : "/?ok=revoked");
out:
	json_decref(out);
	jg_web_end(&w);
}

static void
handle_token(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_web w;
	struct jg_token_claims claims;
	char why[256] = "", exp[40], *token = NULL;
	const char *code;

	if (jg_web_begin(&w, req, reply) != 0)
		goto out;
	struct jg_token_holder who = {.sub = w.call.who.id.sub,
				      .actor = w.call.who.actor,
				      .groups = w.call.caller.groups,
				      .ngroups = w.call.caller.ngroups,
				      .policies = w.call.ctx.policies};
	int rc = jg_token_issue_for_holder(&app->token_issuer, &who, jg_http_param(req, "id"),
					   w.call.ctx.now, &claims, &token, why, sizeof(why));
	if (rc != 0) {
		jg_web_error_page(&w, jg_http_status_of(rc, &code), "No token issued", why, "/");
		goto out;
	}
	struct jg_html *h = &w.h;
	json_t *caps = json_array();
	for (size_t i = 0; caps != NULL && i < claims.ncaps; i++)
		json_array_append_new(caps, json_string(claims.caps[i]));
	jg_web_time(claims.exp, exp, sizeof(exp));
	jg_web_page_start(&w, "Your capability token", "access");
	JG_HTML(h,
		"<p class=\"notice warn\">This token is shown once: copy it now. It works until ");
	jg_html_text(h, exp);
	JG_HTML(h, " for ");
	jg_web_join(h, caps);
	json_decref(caps);
	JG_HTML(h, " on <strong>");
	jg_html_text(h, claims.aud);
	JG_HTML(h, "</strong>; issue a new one from <a href=\"/\">My access</a> while the grant is "
		   "active.</p><h2>Token</h2><pre class=\"secret\" id=\"token\">");
	jg_html_text(h, token);
	JG_HTML(h, "</pre><p><button type=\"button\" class=\"copy secondary\" data-copy=\"token\" "
		   "hidden>Copy token</button></p><h2>Try it</h2><pre id=\"curl\">");
	jg_html_textf(h, "curl -H 'Authorization: Bearer %s' '%s/v1/services/%s/probes'", token,
		      app->cfg->public_url, claims.aud);
	JG_HTML(h, "</pre><p><button type=\"button\" class=\"copy secondary\" data-copy=\"curl\" "
		   "hidden>Copy command</button></p>"
		   "<p>The token is a signed JWT for the guarded endpoints of this service "
		   "(<code>jitgate token inspect</code> explains one).</p>");
	jg_web_page_finish(&w, 201);
out:
	if (token) {
		/* the token is a secret: gone from memory once the page is built */
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	jg_web_end(&w);
}

/* POST /grants/{id}/extend: the form's fields as the API's body, the API's path and limits. */
static void
handle_extend(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;
	json_t *out = NULL, *body = NULL;
	char why[512] = "", dur[32] = "", just[JG_POLICY_MAX_JUSTIFICATION + 2] = "";
	const char *code;
	int rc;

	if (jg_web_begin(&w, req, reply) != 0)
		goto out;
	int r1 = jg_http_form_field(req, "duration", dur, sizeof(dur)),
	    r2 = jg_http_form_field(req, "justification", just, sizeof(just));
	if (r1 == JG_ETOOBIG || r1 == JG_EINVAL || r2 == JG_ETOOBIG || r2 == JG_EINVAL) {
		jg_web_error_page(
		    &w, 400, "Not extended",
		    "The duration or the justification is too long or not UTF-8 text.", "/");
		goto out;
	}
	/* a duration in whole seconds is a number, as the API takes it */
	char *end = NULL;
	long long secs = dur[0] ? strtoll(dur, &end, 10) : 0;
	body = end != NULL && *end == '\0'
		   ? json_pack("{s:I,s:s}", "duration", (json_int_t)secs, "justification", just)
		   : json_pack("{s:s,s:s}", "duration", dur, "justification", just);
	if (body == NULL) {
		jg_web_error_page(&w, 500, "Not extended", "Out of memory.", "/");
		goto out;
	}
	struct jg_throttle_refusal limit = {0};
	rc = jg_api_request_extend(&w.call, req, jg_http_param(req, "id"), body, &out, &limit, why,
				   sizeof(why));
	if (rc == 0) {
		jg_web_redirect(reply, "/?ok=extended");
		goto out;
	}
	if (rc == JG_ELIMITED) {
		char secs_s[16];
		jg_web_error_page(&w, 429, "Not extended", why, "/");
		snprintf(secs_s, sizeof(secs_s), "%d", limit.retry_after);
		jg_http_reply_header(reply, "Retry-After", secs_s);
		goto out;
	}
	jg_web_error_page(&w, jg_http_status_of(rc, &code), "Not extended", why, "/");
out:
	json_decref(body);
	json_decref(out);
	jg_web_end(&w);
}

static const struct jg_route routes[] = {
    {"POST", "/grants/{id}/extend", handle_extend, NULL, JG_ROUTE_FORM_BODY},
    {"POST", "/requests/{id}/cancel", act, &(const enum act){CANCEL}, JG_ROUTE_FORM_BODY},
    {"POST", "/grants/{id}/revoke", act, &(const enum act){REVOKE}, JG_ROUTE_FORM_BODY},
    {"POST", "/grants/{id}/token", handle_token, NULL, JG_ROUTE_FORM_BODY},
};
const struct jg_route_table jg_web_access_routes = {routes, sizeof(routes) / sizeof(routes[0])};
