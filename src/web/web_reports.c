/*
 * web_reports.c (web) - the access review page.
 *
 *   GET /reports/access?service=&from=&to=     the report of GET /v1/reports/access
 *                                              (jg_api_report_query(), then
 *                                              jg_report_access(): the same checks, the
 *                                              same verified read of the log), as a table
 *                                              with each grant's flags, and links to the
 *                                              CSV and JSON
 *   GET /reports/access?since=DATE&until=DATE  the form's dates (UTC days), sent on to
 *                                              the page of that period in Unix seconds
 *
 * Auditors see every service; a service's owners see theirs (the link of the
 * review-due notice names it).  Nothing a person wrote is shown: the report
 * holds none of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/app.h"
#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/report.h"
#include "jitgate/web.h"
#include "web_int.h"

static const struct {
	const char *flag, *words;
} flag_words[] = {
    {"never_used", "never used"},
    {"read_pii_used", "read-pii used"},
    {"extended", "extended"},
    {"break_glass_unreviewed", "break-glass unreviewed"},
};
#define NFLAGS (sizeof(flag_words) / sizeof(flag_words[0]))

/* "2026-12-07" as the Unix time of that day's start (UTC); -1 when it is no such date. */
static int64_t
day_start(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
	if (end == NULL || *end != '\0' || tm.tm_year < 70 || tm.tm_year > 1100)
		return -1;
	return (int64_t)timegm(&tm);
}

static void
day_of(int64_t t, char out[16])
{
	time_t tt = (time_t)t;
	struct tm tm;
	out[0] = '\0';
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		out[0] = '\0';
}

static void
when(struct jg_html *h, const json_t *v)
{
	char buf[40];
	if (!json_is_integer(v)) {
		JG_HTML(h, "-");
		return;
	}
	jg_web_time(json_integer_value(v), buf, sizeof(buf));
	jg_html_text(h, buf);
}

static void
grant_row(struct jg_html *h, json_t *g)
{
	json_t *w = json_object_get(g, "window"), *u = json_object_get(g, "usage");
	json_t *rev = json_object_get(g, "review"), *f;
	size_t i;

	JG_HTML(h, "<tr data-grant=\"");
	jg_html_text(h, json_string_value(json_object_get(g, "grant")));
	JG_HTML(h, "\"><td class=\"hash\">");
	jg_html_text(h, json_string_value(json_object_get(g, "grant")));
	JG_HTML(h, "</td><td>");
	jg_html_text(h, json_string_value(json_object_get(g, "service")));
	JG_HTML(h, "</td><td>");
	jg_html_text(h, json_string_value(json_object_get(g, "requester")));
	JG_HTML(h, "</td><td>");
	jg_web_join(h, json_object_get(g, "capabilities"));
	JG_HTML(h, "</td><td>");
	when(h, json_object_get(w, "start"));
	JG_HTML(h, " to ");
	when(h, json_object_get(w, "end"));
	JG_HTML(h, "<br><span class=\"hint\">");
	const char *reason = json_string_value(json_object_get(w, "end_reason"));
	jg_html_text(h, reason ? reason : json_string_value(json_object_get(g, "state")));
	JG_HTML(h, "</span></td><td>");
	if (json_array_size(json_object_get(g, "approvers")) == 0)
		JG_HTML(h, "<span class=\"hint\">granted at once</span>");
	else
		jg_web_join(h, json_object_get(g, "approvers"));
	JG_HTML(h, "</td><td>");
	if (!json_is_true(json_object_get(g, "break_glass"))) {
		JG_HTML(h, "no");
	} else if (json_is_object(rev)) {
		JG_HTML(h, "yes, reviewed by ");
		jg_html_text(h, json_string_value(json_object_get(rev, "by")));
	} else {
		JG_HTML(h, "yes, <strong>not reviewed</strong>");
	}
	JG_HTML(h, "</td><td>");
	jg_html_textf(h, "%lld token(s), %lld action(s), %lld with read-pii, %lld refused",
		      (long long)json_integer_value(json_object_get(u, "tokens_issued")),
		      (long long)json_integer_value(json_object_get(u, "actions_total")),
		      (long long)json_integer_value(json_object_get(u, "pii_reads")),
		      (long long)json_integer_value(json_object_get(u, "refusals")));
	const char *source =
	    json_string_value(json_object_get(json_object_get(g, "receipt"), "source"));
	if (source && strcmp(source, "grant.receipt") == 0)
		JG_HTML(h, "<br><span class=\"hint\">signed receipt in the log</span>");
	JG_HTML(h, "</td><td class=\"flags\">");
	json_array_foreach(json_object_get(g, "flags"), i, f)
	{
		for (size_t k = 0; k < NFLAGS; k++)
			if (strcmp(json_string_value(f), flag_words[k].flag) == 0) {
				JG_HTML(h, "<span class=\"flag\" data-flag=\"");
				jg_html_text(h, flag_words[k].flag);
				JG_HTML(h, "\">");
				jg_html_text(h, flag_words[k].words);
				JG_HTML(h, "</span> ");
			}
	}
	JG_HTML(h, "</td></tr>");
}

/* The query of the report's own links: service, from, to. */
static void
report_query(struct jg_html *h, const struct jg_report_query *q)
{
	jg_html_textf(h, "from=%lld&to=%lld", (long long)q->from, (long long)q->to);
	if (q->service) {
		JG_HTML(h, "&amp;service=");
		jg_html_url_part(h, q->service);
	}
}

static void
page(struct jg_web *w, const struct jg_report_query *q, json_t *report)
{
	struct jg_html *h = &w->h;
	char from[16], to[16];
	size_t counts[NFLAGS] = {0}, i;
	json_t *g, *f;

	day_of(q->from, from);
	day_of(q->to, to);
	jg_web_page_start(w, "Access review", "reports");
	JG_HTML(h, "<form method=\"get\" action=\"/reports/access\" class=\"filters\">"
		   "<label>Service<input name=\"service\" value=\"");
	jg_html_text(h, q->service ? q->service : "");
	JG_HTML(h, "\" placeholder=\"every service\"></label>"
		   "<label>From (UTC day)<input type=\"date\" name=\"since\" value=\"");
	jg_html_text(h, from);
	JG_HTML(h, "\"></label><label>Until (UTC day, not included)"
		   "<input type=\"date\" name=\"until\" value=\"");
	jg_html_text(h, to);
	JG_HTML(h, "\"></label><button type=\"submit\" class=\"secondary\">Show</button></form>");
	json_array_foreach(json_object_get(report, "grants"), i, g)
	{
		size_t k;
		json_array_foreach(json_object_get(g, "flags"), k, f)
		{
			for (size_t n = 0; n < NFLAGS; n++)
				counts[n] += strcmp(json_string_value(f), flag_words[n].flag) == 0;
		}
	}
	JG_HTML(h, "<section id=\"summary\" class=\"card\"><p>");
	char a[40], b[40];
	jg_web_time(q->from, a, sizeof(a));
	jg_web_time(q->to, b, sizeof(b));
	jg_html_textf(h, "%s: the requests made from %s until %s that became grants: %zu.",
		      q->service ? q->service : "Every service", a, b,
		      json_array_size(json_object_get(report, "grants")));
	JG_HTML(h, "</p><ul class=\"flag-counts\">");
	for (size_t n = 0; n < NFLAGS; n++) {
		JG_HTML(h, "<li data-flag=\"");
		jg_html_text(h, flag_words[n].flag);
		JG_HTML(h, "\">");
		jg_html_textf(h, "%s: %zu", flag_words[n].words, counts[n]);
		JG_HTML(h, "</li>");
	}
	JG_HTML(h,
		"</ul><p class=\"hint\">Computed from the audit log, read verified up to entry ");
	jg_html_textf(h, "%lld",
		      (long long)json_integer_value(json_object_get(report, "verified_size")));
	JG_HTML(
	    h,
	    "; the tables are not used. <a id=\"csv\" href=\"/v1/reports/access?format=csv&amp;");
	report_query(h, q);
	JG_HTML(h, "\">Download CSV</a> · <a id=\"json\" href=\"/v1/reports/access?");
	report_query(h, q);
	JG_HTML(h, "\">JSON</a></p></section>");
	JG_HTML(h, "<div class=\"table-wrap\"><table id=\"grants\"><thead><tr><th>Grant</th>"
		   "<th>Service</th><th>Requester</th><th>Capabilities</th><th>Window</th>"
		   "<th>Approvers</th><th>Break-glass</th><th>Usage</th><th>Flags</th></tr></thead>"
		   "<tbody>");
	json_array_foreach(json_object_get(report, "grants"), i, g) grant_row(h, g);
	JG_HTML(h, "</tbody></table></div>");
	if (json_array_size(json_object_get(report, "grants")) == 0)
		JG_HTML(h, "<p class=\"empty\">No grants in this period.</p>");
	jg_web_page_finish(w, 200);
}

static void
handle_access(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct jg_app *app = req->app;
	struct jg_web w;
	struct jg_report_query q;
	struct jg_caller caller;
	struct jg_http_reply refused = {0};
	json_t *report = NULL;
	const char *since = jg_http_query(req, "since"), *until = jg_http_query(req, "until");
	const char *service = jg_http_query(req, "service");

	if (jg_web_begin(&w, req, reply) != 0)
		goto out;
	if ((since && *since) || (until && *until)) {
		/* the form's days: on to the page of that period, in seconds like the API */
		int64_t a = since && *since ? day_start(since) : 0;
		int64_t b = until && *until ? day_start(until) : (int64_t)time(NULL);
		char to[512];
		if (a < 0 || b < 0 || a >= b ||
		    (service && *service && !jg_catalog_service_name_valid(service))) {
			jg_web_error_page(&w, 400, "Access review",
					  "Give a service name and two days, the first before the "
					  "second.",
					  "/reports/access");
			goto out;
		}
		snprintf(to, sizeof(to), "/reports/access?from=%lld&to=%lld%s%s", (long long)a,
			 (long long)b, service && *service ? "&service=" : "",
			 service && *service ? service : "");
		jg_web_redirect(reply, to);
		goto out;
	}
	if (jg_api_report_query(req, &refused, &q, &caller) != 0) {
		json_t *err =
		    json_loadb(refused.body ? refused.body : "", refused.body_len, 0, NULL);
		const char *msg =
		    json_string_value(json_object_get(json_object_get(err, "error"), "message"));
		jg_web_error_page(&w, refused.status ? refused.status : 403, "Access review",
				  msg ? msg : "This report cannot be shown to you.", "/");
		json_decref(err);
		goto out;
	}
	jg_caller_clear(&caller);
	int rc = jg_report_access(app->audit, app->store, &q, &report);
	if (rc != 0) {
		jg_web_error_page(&w, rc == JG_ETOOBIG || rc == JG_EINVAL ? 400 : 503,
				  "Access review",
				  rc == JG_ETOOBIG ? "The period holds too much: choose a shorter "
						     "one or one service."
				  : rc == JG_EVERIFY ? "The audit log does not verify: no report "
						       "can be made from it."
						     : "The audit log cannot be read right now.",
				  "/reports/access");
		goto out;
	}
	page(&w, &q, report);
out:
	free(refused.body);
	json_decref(refused.headers);
	json_decref(report);
	jg_web_end(&w);
}

static const struct jg_route routes[] = {
    {"GET", "/reports/access", handle_access, NULL, 0},
};
const struct jg_route_table jg_web_reports_routes = {routes, sizeof(routes) / sizeof(routes[0])};
