/*
 * audit.c (web) - the auditor's page.
 *
 *   GET  /audit                the latest checkpoint (size, root, time, whether its
 *                              signature verifies with this jitgate's checkpoint keys:
 *                              jg_audit_checkpoint_view()), the rolling verifier's
 *                              position, rate and detection window (jg_audit_stats()),
 *                              entries newest first with filters (type, actor, service,
 *                              time) and paging (jg_audit_list(), as GET /v1/audit/entries)
 *   GET  /audit/proof?seq=N    entry N's inclusion proof, checked against the signed
 *                              checkpoint (jg_audit_proof_view(); the same proof as
 *                              GET /v1/audit/proof)
 *   POST /audit/checkpoint     a checkpoint now (jg_audit_checkpoint(), as POST
 *                              /v1/audit/checkpoint)
 *   POST /audit/export         the export (jg_api_audit_export(), as GET /v1/audit/export),
 *                              a download that `jitgate audit verify` accepts; a form with
 *                              the CSRF token, because the export writes to the log
 *
 * Auditors only (auth.auditor_groups), like the JSON endpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/app.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/parse.h"
#include "jitgate/web.h"
#include "web_int.h"

#define PAGE_SIZE 50

static int
auditor(struct jg_web *w)
{
	if (w->is_auditor)
		return 1;
	jg_web_error_page(w, 403, "Audit", "The audit pages are for auditors.", "/");
	return 0;
}

static void
checkpoint_button(struct jg_web *w)
{
	JG_HTML(&w->h, "<form method=\"post\" action=\"/audit/checkpoint\">");
	jg_web_csrf_field(w);
	JG_HTML(&w->h, "<button type=\"submit\" class=\"secondary\" id=\"checkpoint-now\">"
		       "Make a checkpoint now</button></form>");
}

/* The checkpoint box: what the log's newest signed head says, and whether its signature holds. */
static void
checkpoint_box(struct jg_web *w)
{
	struct jg_html *h = &w->h;
	struct jg_audit_checkpoint_view v;
	char root[65], when[40];

	JG_HTML(h, "<section id=\"checkpoint\"><h2>Latest checkpoint</h2>");
	struct jg_app *app = w->req->app;
	int rc = jg_audit_checkpoint_view(app->audit, &v);
	if (rc == JG_ENOTFOUND) {
		JG_HTML(h, "<p>No checkpoint has been made yet.</p>");
		checkpoint_button(w);
		JG_HTML(h, "</section>");
		return;
	}
	if (rc != 0) {
		JG_HTML(h,
			"<p class=\"notice error\">The checkpoint cannot be read.</p></section>");
		return;
	}
	jg_hex32(v.cp.root, root);
	jg_web_time(v.created_at / 1000, when, sizeof(when));
	JG_HTML(h, "<dl><dt>Origin</dt><dd>");
	jg_html_text(h, v.cp.origin);
	JG_HTML(h, "</dd><dt>Size</dt><dd id=\"cp-size\">");
	jg_html_textf(h, "%llu", (unsigned long long)v.cp.size);
	JG_HTML(h, " entries</dd><dt>Root</dt><dd><code class=\"hash\">");
	jg_html_text(h, root);
	JG_HTML(h, "</code></dd><dt>Made</dt><dd>");
	jg_html_text(h, when);
	JG_HTML(h, "</dd><dt>Signature</dt><dd id=\"cp-signature\">");
	if (v.signature_valid)
		JG_HTML(
		    h, "<strong class=\"grant\">valid</strong> (a checkpoint key of this jitgate)");
	else
		JG_HTML(h, "<strong class=\"deny\">NOT valid</strong> with this jitgate's keys");
	if (v.have_log_size && v.log_size >= v.cp.size) {
		JG_HTML(h, "</dd><dt>Log now</dt><dd>");
		jg_html_textf(h, "%llu entries (%llu since this checkpoint)",
			      (unsigned long long)v.log_size,
			      (unsigned long long)(v.log_size - v.cp.size));
	}
	JG_HTML(h, "</dd></dl><details><summary>Signed note</summary><pre>");
	jg_html_text(h, v.note);
	JG_HTML(h, "</pre></details>");
	JG_HTML(h, "<form method=\"post\" action=\"/audit/export\">");
	jg_web_csrf_field(w);
	JG_HTML(
	    h,
	    "<button type=\"submit\" class=\"primary\" id=\"export\">Download export</button> "
	    "<span class=\"hint\">JSON Lines with its checkpoint, for <code>jitgate audit verify "
	    "FILE --key KEY</code> with the checkpoint key you obtained independently. "
	    "The export is itself recorded in the log.</span></form>");
	checkpoint_button(w);
	JG_HTML(h, "</section>");
	jg_audit_checkpoint_view_clear(&v);
}

/*
 * The rolling verifier as this replica sees it (jg_audit_stats): where the
 * sweep is, its rate at audit.verify_budget, and the detection window for
 * an edit of an old entry (docs/operations.md, "The rolling verifier").
 */
static void
sweep_box(struct jg_web *w)
{
	struct jg_html *h = &w->h;
	struct jg_app *app = w->req->app;
	struct jg_audit_stats st;

	jg_audit_stats(app->audit, &st);
	JG_HTML(h, "<section id=\"verifier\"><h2>Rolling verifier</h2><dl>");
	if (!st.sweep.leading) {
		JG_HTML(h, "<dt>Sweep</dt><dd id=\"sweep-state\">not on this replica (the leader "
			   "of <code>audit-verifier</code> sweeps)</dd></dl></section>");
		return;
	}
	JG_HTML(h, "<dt>Sweep</dt><dd id=\"sweep-state\">");
	jg_html_textf(h, "at entry %llu of %llu (%llu whole sweeps since start)",
		      (unsigned long long)st.sweep.position, (unsigned long long)st.sweep.size,
		      (unsigned long long)st.sweep.sweeps);
	JG_HTML(h, "</dd><dt>Rate</dt><dd id=\"sweep-rate\">");
	if (st.sweep.rate > 0)
		jg_html_textf(h, "%.0f entries/s at %.1f %% of one core", st.sweep.rate,
			      st.sweep.cpu_share * 100.0);
	else
		JG_HTML(h, "not measured yet");
	JG_HTML(h, "</dd><dt>Detection window</dt><dd id=\"sweep-window\">");
	if (st.sweep.window_seconds > 0)
		jg_html_textf(h, "%.1f s: an edit of an old entry is found within one whole sweep",
			      st.sweep.window_seconds);
	else
		JG_HTML(h, "not measured yet");
	JG_HTML(h, "</dd></dl></section>");
}

/* A form value of the filters (GET query), NULL when empty. */
static const char *
filter(struct jg_web *w, const char *name)
{
	const char *v = jg_http_query(w->req, name);
	return v && v[0] ? v : NULL;
}

/* "2026-11-25T20:30" (UTC, as a datetime-local field sends it) in Unix milliseconds. */
static int
parse_time(const char *s, int64_t *ms)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M", &tm) : NULL;
	if (end == NULL || (*end != '\0' && strcmp(end, ":00") != 0))
		return -1;
	time_t t = timegm(&tm);
	if (t < 0)
		return -1;
	*ms = (int64_t)t * 1000;
	return 0;
}

static void
filter_input(struct jg_html *h, const char *name, const char *label, const char *type,
	     const char *value, const char *placeholder)
{
	JG_HTML(h, "<label>");
	jg_html_text(h, label);
	JG_HTML(h, " <input name=\"");
	jg_html_text(h, name);
	JG_HTML(h, "\" type=\"");
	jg_html_text(h, type);
	JG_HTML(h, "\" maxlength=\"300\" placeholder=\"");
	jg_html_text(h, placeholder);
	JG_HTML(h, "\" value=\"");
	jg_html_text(h, value ? value : "");
	JG_HTML(h, "\"></label>");
}

static void
query_part(struct jg_html *h, const char *name, const char *value)
{
	if (value == NULL)
		return;
	JG_HTML(h, "&amp;");
	jg_html_text(h, name);
	JG_HTML(h, "=");
	jg_html_url_part(h, value);
}

static void
entry_row(struct jg_html *h, json_t *item)
{
	json_t *e = json_object_get(item, "entry"), *data = json_object_get(e, "data");
	json_int_t seq = json_integer_value(json_object_get(item, "seq"));
	char when[40];
	int64_t ts = json_integer_value(json_object_get(e, "ts"));
	time_t t = (time_t)(ts / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(when, sizeof(when), "-");
	JG_HTML(h, "<tr><td>");
	jg_html_textf(h, "%lld", (long long)seq);
	JG_HTML(h, "</td><td>");
	jg_html_text(h, when);
	JG_HTML(h, "</td><td>");
	jg_html_text(h, json_string_value(json_object_get(e, "type")));
	JG_HTML(h, "</td><td>");
	jg_html_text(h, json_string_value(json_object_get(e, "actor")));
	JG_HTML(h, "</td><td>");
	jg_html_text(h, json_string_value(json_object_get(data, "service")));
	JG_HTML(h, "</td><td>");
	json_t *rq = json_object_get(data, "request");
	jg_html_text(h, json_string_value(rq ? rq : json_object_get(data, "grant")));
	JG_HTML(h, "</td><td class=\"data\"><code>");
	char *d = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (d && strlen(d) > 300)
		memcpy(d + 296, "...}", sizeof("...}")); /* cut short, NUL included */
	jg_html_text(h, d ? d : "{}");
	free(d);
	JG_HTML(h, "</code></td><td><a href=\"/audit/proof?seq=");
	jg_html_textf(h, "%lld", (long long)seq);
	JG_HTML(h, "\">proof</a></td></tr>");
}

static void
handle_audit(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;
	struct jg_audit_filter f = {.limit = PAGE_SIZE, .before = UINT64_MAX};
	json_t *out = NULL;
	char actor[320];
	uint64_t before;

	if (jg_web_begin(&w, req, reply) != 0 || !auditor(&w))
		goto out;
	struct jg_html *h = &w.h;
	const char *type = filter(&w, "type"), *who = filter(&w, "actor"),
		   *service = filter(&w, "service"), *since = filter(&w, "since"),
		   *until = filter(&w, "until"), *page = filter(&w, "before");
	if ((type && strlen(type) > 64) || (who && strlen(who) > 300) ||
	    (service && strlen(service) > 63) || (since && parse_time(since, &f.since_ms) != 0) ||
	    (until && parse_time(until, &f.until_ms) != 0)) {
		jg_web_error_page(&w, 400, "Audit",
				  "A filter is not valid: times are YYYY-MM-DDTHH:MM (UTC).",
				  "/audit");
		goto out;
	}
	if (until)
		f.until_ms += 59999; /* the whole minute */
	if (page) {
		if (jg_parse_u64(page, 0, INT64_MAX, &before) != 0) {
			jg_web_error_page(&w, 400, "Audit", "'before' must be an entry number.",
					  "/audit");
			goto out;
		}
		f.before = before;
	}
	f.type = type;
	f.service = service;
	if (who) { /* "alice" means the user alice; "system" and "operator:x" are as typed */
		snprintf(actor, sizeof(actor), "%s%s",
			 strchr(who, ':') || strcmp(who, "system") == 0 ? "" : "user:", who);
		f.actor = actor;
	}
	if (jg_audit_list(w.call.ctx.store, &f, &out) != 0) {
		jg_web_error_page(&w, 503, "Audit", "The audit log cannot be read right now.",
				  "/audit");
		goto out;
	}
	jg_web_page_start(&w, "Audit", "audit");
	jg_web_ok_notice(&w);
	checkpoint_box(&w);
	sweep_box(&w);
	JG_HTML(h, "<section id=\"entries\"><h2>Entries</h2>"
		   "<form method=\"get\" action=\"/audit\" class=\"filters\">");
	filter_input(h, "type", "Type", "text", type, "request.created");
	filter_input(h, "actor", "Actor", "text", who, "alice");
	filter_input(h, "service", "Service", "text", service, "payment-api");
	filter_input(h, "since", "From (UTC)", "datetime-local", since, "");
	filter_input(h, "until", "To (UTC)", "datetime-local", until, "");
	JG_HTML(h,
		"<button type=\"submit\" class=\"secondary\">Filter</button> "
		"<a href=\"/audit\">Clear</a></form>"
		"<div class=\"table-wrap\"><table><thead><tr><th>#</th><th>Time (UTC)</th>"
		"<th>Type</th><th>Actor</th><th>Service</th><th>Request</th><th>Data</th><th></th>"
		"</tr></thead>"
		"<tbody>");
	size_t i;
	json_t *item;
	json_array_foreach(json_object_get(out, "entries"), i, item)
	{
		entry_row(h, item);
	}
	JG_HTML(h, "</tbody></table></div>");
	if (json_array_size(json_object_get(out, "entries")) == 0)
		JG_HTML(h, "<p class=\"empty\">No entries match.</p>");
	json_t *next = json_object_get(out, "next_before");
	if (json_is_integer(next)) {
		JG_HTML(h, "<p><a href=\"/audit?before=");
		jg_html_textf(h, "%lld", (long long)json_integer_value(next));
		query_part(h, "type", type);
		query_part(h, "actor", who);
		query_part(h, "service", service);
		query_part(h, "since", since);
		query_part(h, "until", until);
		JG_HTML(h, "\">Older entries</a></p>");
	}
	JG_HTML(h, "</section>");
	jg_web_page_finish(&w, 200);
out:
	json_decref(out);
	jg_web_end(&w);
}

static void
handle_proof(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;
	struct jg_audit_proof_view v = {0};
	char hex[65];
	uint64_t seq;

	if (jg_web_begin(&w, req, reply) != 0 || !auditor(&w))
		goto out;
	const char *s = jg_http_query(req, "seq");
	if (jg_parse_u64(s, 0, UINT64_MAX, &seq) != 0) {
		jg_web_error_page(&w, 400, "Inclusion proof", "No such entry.", "/audit");
		goto out;
	}
	struct jg_app *app = req->app;
	int rc = jg_audit_proof_view(app->audit, seq, &v);
	if (rc == JG_ENOTFOUND) {
		jg_web_error_page(&w, 400, "Inclusion proof", "No such entry.", "/audit");
		goto out;
	}
	if (rc != 0) {
		jg_web_error_page(&w, 503, "Inclusion proof", "The proof cannot be made right now.",
				  "/audit");
		goto out;
	}
	struct jg_html *h = &w.h;
	jg_web_page_start(&w, "Inclusion proof", "audit");
	JG_HTML(h, "<dl><dt>Entry</dt><dd id=\"proof-seq\">");
	jg_html_textf(h, "%llu", (unsigned long long)seq);
	JG_HTML(h, "</dd><dt>Tree size</dt><dd>");
	jg_html_textf(h, "%llu", (unsigned long long)v.tree_size);
	if (v.checkpointed)
		JG_HTML(h, " (the latest signed checkpoint)");
	else
		JG_HTML(h, " (the current tree: no signed checkpoint covers this entry yet)");
	JG_HTML(h, "</dd><dt>Leaf hash</dt><dd><code class=\"hash\">");
	jg_hex32(v.leaf, hex);
	jg_html_text(h, hex);
	JG_HTML(h, "</code></dd><dt>The entry</dt><dd><code class=\"hash\">");
	char *text = v.entry ? json_dumps(v.entry, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	jg_html_text(h, text);
	free(text);
	JG_HTML(h, "</code></dd><dt>Root</dt><dd><code class=\"hash\">");
	jg_hex32(v.root, hex);
	jg_html_text(h, hex);
	JG_HTML(h, "</code></dd><dt>Proof</dt><dd><ol class=\"hashes\">");
	for (size_t i = 0; i + 32 <= v.path_len; i += 32) {
		JG_HTML(h, "<li><code class=\"hash\">");
		jg_hex32(v.path + i, hex);
		jg_html_text(h, hex);
		JG_HTML(h, "</code></li>");
	}
	JG_HTML(h, "</ol></dd><dt>Result</dt><dd id=\"proof-result\">");
	if (v.verifies && (v.signed_root || !v.checkpointed))
		JG_HTML(h, "<strong class=\"grant\">the proof verifies</strong>");
	else
		JG_HTML(h, "<strong class=\"deny\">the proof does NOT verify</strong>");
	if (v.verifies && v.signed_root)
		JG_HTML(h, " and leads to the root of the signed checkpoint");
	JG_HTML(h, "</dd></dl><p><a href=\"/v1/audit/proof?seq=");
	jg_html_textf(h, "%llu&size=%llu", (unsigned long long)seq,
		      (unsigned long long)v.tree_size);
	JG_HTML(h, "\">The same proof as JSON</a> · <a href=\"/audit\">Back to the log</a></p>");
	jg_web_page_finish(&w, 200);
out:
	jg_audit_proof_view_clear(&v);
	jg_web_end(&w);
}

static void
handle_export(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;

	if (jg_web_begin(&w, req, reply) == 0 && auditor(&w)) {
		jg_api_audit_export(req, reply, w.call.who.actor);
		if (reply->status == 200)
			jg_http_reply_header(reply, "Content-Disposition",
					     "attachment; filename=\"jitgate-audit.jsonl\"");
	}
	jg_web_end(&w);
}

/* POST /audit/checkpoint: jg_audit_checkpoint(), as POST /v1/audit/checkpoint. */
static void
handle_checkpoint(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_web w;
	struct jg_app *app = req->app;
	uint64_t size;

	if (jg_web_begin(&w, req, reply) == 0 && auditor(&w)) {
		if (jg_audit_checkpoint(app->audit, NULL, &size) != 0)
			jg_web_error_page(
			    &w, 503, "Audit",
			    "The audit log cannot be written right now; no checkpoint.", "/audit");
		else
			jg_web_redirect(reply, "/audit?ok=checkpoint");
	}
	jg_web_end(&w);
}

static const struct jg_route routes[] = {
    {"GET", "/audit", handle_audit, NULL, 0},
    {"GET", "/audit/proof", handle_proof, NULL, 0},
    {"POST", "/audit/export", handle_export, NULL, JG_ROUTE_FORM_BODY},
    {"POST", "/audit/checkpoint", handle_checkpoint, NULL, JG_ROUTE_FORM_BODY},
};
const struct jg_route_table jg_web_audit_routes = {routes, sizeof(routes) / sizeof(routes[0])};
