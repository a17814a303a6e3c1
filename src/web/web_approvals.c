/*
 * approvals.c (web) - the approver's queue and the break-glass post-review.
 *
 *   GET  /approvals                 requests awaiting my approval (awaiting=me:
 *                                   never my own), and break-glass grants to review
 *   POST /requests/{id}/approve     jg_access_approve()  (as POST /v1/requests/{id}/approve)
 *   POST /requests/{id}/deny        jg_access_deny()     with the form's reason
 *   POST /requests/{id}/review      jg_access_review()   with the form's note
 *
 * An extension of a grant is marked as such, with the grant's history: the
 * original request (justification, approvals, window) and its extensions
 * so far (jg_access_get_extended).
 */
#include <stdio.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/web.h"
#include "web_int.h"

#define TEXT_MAX 1000

static void
form_open(struct jg_web *w, const char *id, const char *verb)
{
	JG_HTML(&w->h, "<form method=\"post\" class=\"inline\" action=\"/requests/");
	jg_html_url_part(&w->h, id);
	JG_HTML(&w->h, "/");
	jg_html_text(&w->h, verb);
	JG_HTML(&w->h, "\">");
	jg_web_csrf_field(w);
}

static void
rules_of(struct jg_html *h, json_t *r)
{
	json_t *rules = json_object_get(json_object_get(r, "decision"), "matched_rules");
	if (json_array_size(rules) == 0)
		JG_HTML(h, "-");
	jg_web_join(h, rules);
}

/* The grant extension r would lengthen: its request, approvals, window and extensions. */
static void
history(struct jg_web *w, json_t *r)
{
	struct jg_html *h = &w->h;
	json_t *g = NULL;
	char why[256], when[40], dur[32];
	size_t i;
	json_t *e;

	JG_HTML(h, "<section class=\"history\"><h3>The grant it extends</h3>");
	if (jg_access_get_extended(&w->call.ctx, &w->call.caller,
				   json_string_value(json_object_get(r, "id")), &g, why,
				   sizeof(why)) != 0) {
		JG_HTML(h, "<p class=\"notice error\">");
		jg_html_text(h, why);
		JG_HTML(h, "</p></section>");
		return;
	}
	jg_policy_duration_format(json_integer_value(json_object_get(g, "duration")), dur,
				  sizeof(dur));
	JG_HTML(h, "<dl><dt>Grant</dt><dd><code>");
	jg_html_text(h, json_string_value(json_object_get(g, "id")));
	JG_HTML(h, "</code> (");
	jg_html_text(h, jg_web_state_text(json_string_value(json_object_get(g, "state"))));
	JG_HTML(h, ")</dd><dt>First asked for</dt><dd>");
	jg_html_text(h, dur);
	JG_HTML(h, "</dd><dt>Justification</dt><dd class=\"just\">");
	jg_html_text(h, json_string_value(json_object_get(g, "justification")));
	JG_HTML(h, "</dd><dt>Approvals</dt><dd>");
	jg_web_approvals_text(h, g);
	JG_HTML(h, "</dd><dt>Active since</dt><dd>");
	jg_web_time(json_integer_value(json_object_get(g, "activated_at")), when, sizeof(when));
	jg_html_text(h, when);
	JG_HTML(h, "</dd><dt>Ends</dt><dd>");
	jg_web_time(json_integer_value(json_object_get(g, "expires_at")), when, sizeof(when));
	jg_html_text(h, when);
	JG_HTML(h, "</dd><dt>Extensions</dt><dd><ul class=\"extensions\">");
	json_array_foreach(json_object_get(g, "extensions"), i, e)
	{
		jg_policy_duration_format(json_integer_value(json_object_get(e, "duration")), dur,
					  sizeof(dur));
		jg_web_time(json_integer_value(json_object_get(e, "created_at")), when,
			    sizeof(when));
		JG_HTML(h, "<li>+");
		jg_html_text(h, dur);
		JG_HTML(h, " asked ");
		jg_html_text(h, when);
		JG_HTML(h, ": ");
		jg_html_text(h, jg_web_state_text(json_string_value(json_object_get(e, "state"))));
		JG_HTML(h, "</li>");
	}
	JG_HTML(h, "</ul></dd></dl></section>");
	json_decref(g);
}

static void
card(struct jg_web *w, json_t *r, int review)
{
	struct jg_html *h = &w->h;
	const char *id = json_string_value(json_object_get(r, "id")),
		   *incident = json_string_value(json_object_get(r, "incident"));
	char dur[32], when[40];

	jg_policy_duration_format(json_integer_value(json_object_get(r, "duration")), dur,
				  sizeof(dur));
	jg_web_time(json_integer_value(json_object_get(r, "created_at")), when, sizeof(when));
	JG_HTML(h, "<article class=\"card\" data-request=\"");
	jg_html_text(h, id);
	const char *extends = json_string_value(json_object_get(r, "extends"));
	if (extends != NULL)
		JG_HTML(h, "\" data-extends=\"");
	if (extends != NULL)
		jg_html_text(h, extends);
	JG_HTML(h, "\"><h2>");
	jg_html_text(h, json_string_value(json_object_get(r, "requester")));
	JG_HTML(h, " → ");
	jg_html_text(h, json_string_value(json_object_get(r, "service")));
	if (extends != NULL)
		JG_HTML(h, " <span class=\"state state-extension\">extension</span>");
	JG_HTML(h, "</h2><dl><dt>Requester</dt><dd class=\"requester\">");
	jg_html_text(h, json_string_value(json_object_get(r, "requester")));
	JG_HTML(h, "</dd><dt>Service</dt><dd>");
	jg_html_text(h, json_string_value(json_object_get(r, "service")));
	JG_HTML(h, "</dd><dt>Capabilities</dt><dd>");
	jg_web_join(h, json_object_get(r, "capabilities"));
	if (extends != NULL)
		JG_HTML(h, "</dd><dt>Longer by</dt><dd>");
	else
		JG_HTML(h, "</dd><dt>Duration</dt><dd>");
	jg_html_text(h, dur);
	int64_t start = json_integer_value(json_object_get(r, "starts_at"));
	if (start > 0) {
		/* a maintenance window approved ahead: the approver sees when it opens */
		char at[40];
		jg_web_time(start, at, sizeof(at));
		JG_HTML(h, "</dd><dt>Starts</dt><dd class=\"starts\">");
		jg_html_text(h, at);
	}
	struct jg_policy_probe_budget budget;
	if (extends == NULL &&
	    jg_policy_probe_budget_parse(
		json_object_get(json_object_get(r, "decision"), "probe_budget"), &budget) == 0 &&
	    (budget.max_probes > 0 || budget.max_hits > 0 || budget.max_bytes > 0)) {
		/* what the grant may spend on probes, as the policy bounds it */
		char words[96];
		jg_policy_probe_budget_text(&budget, words, sizeof(words));
		JG_HTML(h, "</dd><dt>Probe budget</dt><dd class=\"probe-budget\">");
		jg_html_text(h, words);
	}
	JG_HTML(h, "</dd><dt>Justification</dt><dd class=\"just\">");
	jg_html_text(h, json_string_value(json_object_get(r, "justification")));
	JG_HTML(h, "</dd><dt>Incident</dt><dd>");
	jg_html_text(h, incident ? incident : "-");
	JG_HTML(h, "</dd><dt>Approvals</dt><dd class=\"progress\">");
	jg_web_approvals_text(h, r);
	JG_HTML(h, "</dd><dt>Policy rule</dt><dd>");
	rules_of(h, r);
	JG_HTML(h, "</dd><dt>Asked</dt><dd>");
	jg_html_text(h, when);
	JG_HTML(h, "</dd><dt>Request</dt><dd><code>");
	jg_html_text(h, id);
	JG_HTML(h, "</code></dd></dl>");
	if (extends != NULL)
		history(w, r);
	JG_HTML(h, "<div class=\"actions\">");
	if (review) {
		form_open(w, id, "review");
		JG_HTML(h,
			"<input type=\"text\" name=\"note\" maxlength=\"1000\" "
			"placeholder=\"review note\" aria-label=\"review note\">"
			"<button type=\"submit\" class=\"primary\">Mark reviewed</button></form>");
	} else {
		form_open(w, id, "approve");
		JG_HTML(h, "<button type=\"submit\" class=\"primary\">Approve</button></form>");
		form_open(w, id, "deny");
		JG_HTML(h, "<input type=\"text\" name=\"reason\" maxlength=\"1000\" required "
			   "placeholder=\"reason for denying\" aria-label=\"reason for denying\">"
			   "<button type=\"submit\" class=\"danger\">Deny</button></form>");
	}
	JG_HTML(h, "</div></article>");
}

static void
section(struct jg_web *w, const struct jg_access_filter *f, const char *title, const char *empty,
	const char *sid)
{
	json_t *out = NULL;
	char why[256];
	size_t i, shown = 0;
	json_t *r;

	JG_HTML(&w->h, "<section id=\"");
	jg_html_text(&w->h, sid);
	JG_HTML(&w->h, "\"><h2>");
	jg_html_text(&w->h, title);
	JG_HTML(&w->h, "</h2>");
	if (jg_access_list(&w->call.ctx, &w->call.caller, f, &out, why, sizeof(why)) != 0) {
		JG_HTML(&w->h, "<p class=\"notice error\">");
		jg_html_text(&w->h, why);
		JG_HTML(&w->h, "</p></section>");
		return;
	}
	json_array_foreach(json_object_get(out, "requests"), i, r)
	{
		/* nobody reviews their own break-glass (access.c refuses it too) */
		if (f->review && strcmp(json_string_value(json_object_get(r, "requester")),
					w->call.caller.sub) == 0)
			continue;
		card(w, r, f->review);
		shown++;
	}
	if (shown == 0) {
		JG_HTML(&w->h, "<p class=\"empty\">");
		jg_html_text(&w->h, empty);
		JG_HTML(&w->h, "</p>");
	}
	JG_HTML(&w->h, "</section>");
	json_decref(out);
}

static void
handle_queue(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;
	struct jg_access_filter awaiting = {.awaiting = 1}, review = {.review = 1};

	if (jg_web_begin(&w, req, reply) != 0)
		goto out;
	jg_web_page_start(&w, "Approvals", "approvals");
	jg_web_ok_notice(&w);
	section(&w, &awaiting, "Waiting for your approval", "Nothing is waiting for you.", "queue");
	section(&w, &review, "Break-glass grants to review", "No break-glass grant needs review.",
		"review");
	jg_web_page_finish(&w, 200);
out:
	jg_web_end(&w);
}

enum act { APPROVE, DENY, REVIEW };

/* POST /requests/{id}/approve|deny|review: the route's arg says which. */
static void
act(struct jg_http_request *req, struct jg_http_reply *reply)
{
	const enum act a = *(const enum act *)req->route.route->arg;
	static const char *const title[] = {"Not approved", "Not denied", "Not reviewed"};
	static const char *const done[] = {"/approvals?ok=approved", "/approvals?ok=denied",
					   "/approvals?ok=reviewed"};
	struct jg_web w;
	json_t *out = NULL;
	char why[512] = "", text[TEXT_MAX + 2] = "";
	const char *id = jg_http_param(req, "id"), *code;
	int rc;

	if (jg_web_begin(&w, req, reply) != 0)
		goto out;
	rc = a == APPROVE
		 ? 0
		 : jg_http_form_field(req, a == DENY ? "reason" : "note", text, sizeof(text));
	if (rc == JG_ETOOBIG || rc == JG_EINVAL) {
		jg_web_error_page(&w, 400, title[a],
				  rc == JG_ETOOBIG ? "The text is too long (1000 bytes at most)."
						   : "The text must be UTF-8 text.",
				  "/approvals");
		goto out;
	}
	if (a == APPROVE)
		rc = jg_access_approve(&w.call.ctx, &w.call.caller, id, &out, why, sizeof(why));
	else if (a == DENY)
		rc = jg_access_deny(&w.call.ctx, &w.call.caller, id, text[0] ? text : NULL, &out,
				    why, sizeof(why));
	else
		rc = jg_access_review(&w.call.ctx, &w.call.caller, id, text[0] ? text : NULL, &out,
				      why, sizeof(why));
	if (rc != 0) {
		jg_web_error_page(&w, jg_http_status_of(rc, &code), title[a], why, "/approvals");
		goto out;
	}
	jg_web_redirect(reply, done[a]);
out:
	json_decref(out);
	jg_web_end(&w);
}

static const struct jg_route routes[] = {
    {"GET", "/approvals", handle_queue, NULL, 0},
    {"POST", "/requests/{id}/approve", act, &(const enum act){APPROVE}, JG_ROUTE_FORM_BODY},
    {"POST", "/requests/{id}/deny", act, &(const enum act){DENY}, JG_ROUTE_FORM_BODY},
    {"POST", "/requests/{id}/review", act, &(const enum act){REVIEW}, JG_ROUTE_FORM_BODY},
};
const struct jg_route_table jg_web_approvals_routes = {routes, sizeof(routes) / sizeof(routes[0])};
