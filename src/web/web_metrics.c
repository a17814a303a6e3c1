/*
 * metrics.c (web) - the metrics page: GET /debug/{svc}/metrics (read-metrics).
 *
 * Without ?name= the page lists the service's metrics (the API's list:
 * name, kind, unit, description, points, last point), each name a link to
 * its chart and a checkbox to chart several together.  With one or more
 * ?name= (at most MAX_NAMES) it shows a range selector (the last 15
 * minutes, hour, 6 hours, 24 hours as links, and a form for any since,
 * until and step) and, per name, the chart of that metric with its series
 * overlaid and the table of its points beneath (jg_web_metric_charts,
 * web_svg.h).  The page's query string is the API's (name, since, until,
 * step) plus grant=, and each name is one jg_api_metrics_read() (api_read.h)
 * with the token of the session (web_debug.c): the same checks, the same
 * audit entry (metrics.read, one per name), the same redaction.  Every link
 * keeps the grant, the names and the range.  Values show on hover through
 * each point's <title> without script; jitgate.js adds a live readout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/web.h"
#include "web_int.h"
#include "web_svg.h"

/* Metrics charted on one page at most (each is one audited read). */
#define MAX_NAMES 8

/* The ranges offered as links ("since" as the API takes it: a duration ago). */
static const struct {
	const char *since, *label;
} ranges[] = {
    {"15m", "Last 15 minutes"},
    {"1h", "Last hour"},
    {"6h", "Last 6 hours"},
    {"24h", "Last 24 hours"},
};
#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

/* The names of the page. */
struct names {
	const char *v[MAX_NAMES];
	size_t n;
};

/* "&amp;name=..." for each name. */
static void
name_args(struct jg_html *h, const struct names *names)
{
	for (size_t i = 0; i < names->n; i++) {
		JG_HTML(h, "&amp;name=");
		jg_html_url_part(h, names->v[i]);
	}
}

/* "&amp;k=v" for since, until and step where set (with_range: 0 keeps only step). */
static void
range_args(struct jg_html *h, struct jg_http_request *req, int with_range)
{
	static const char *const kept[] = {"since", "until", "step"};
	for (size_t i = with_range ? 0 : 2; i < sizeof(kept) / sizeof(kept[0]); i++) {
		const char *v = jg_http_query(req, kept[i]);
		if (v == NULL || v[0] == '\0')
			continue;
		JG_HTML(h, "&amp;");
		jg_html_text(h, kept[i]);
		JG_HTML(h, "=");
		jg_html_url_part(h, v);
	}
}

static void
hidden(struct jg_html *h, const char *name, const char *value)
{
	if (value == NULL)
		return;
	JG_HTML(h, "<input type=\"hidden\" name=\"");
	jg_html_text(h, name);
	JG_HTML(h, "\" value=\"");
	jg_html_text(h, value);
	JG_HTML(h, "\">");
}

/* The range links and the form for any range; the current choice is marked. */
static void
range_selector(struct jg_web_debug *d, const struct names *names)
{
	struct jg_html *h = &d->w.h;
	struct jg_http_request *req = d->w.req;
	const char *since = jg_http_query(req, "since"), *until = jg_http_query(req, "until"),
		   *step = jg_http_query(req, "step");

	JG_HTML(h, "<nav class=\"metric-ranges debug-links\" aria-label=\"time range\">"
		   "<a id=\"all-metrics\" href=\"");
	jg_web_debug_href(h, d->service, "metrics", d->grant);
	range_args(h, req, 1);
	JG_HTML(h, "\">All metrics</a>");
	for (size_t i = 0; i < NRANGES; i++) {
		JG_HTML(h, "<a class=\"range\" data-since=\"");
		jg_html_text(h, ranges[i].since);
		JG_HTML(h, "\"");
		if (since && until == NULL && strcmp(since, ranges[i].since) == 0)
			JG_HTML(h, " aria-current=\"page\"");
		JG_HTML(h, " href=\"");
		jg_web_debug_href(h, d->service, "metrics", d->grant);
		name_args(h, names);
		JG_HTML(h, "&amp;since=");
		jg_html_url_part(h, ranges[i].since);
		range_args(h, req, 0);
		JG_HTML(h, "\">");
		jg_html_text(h, ranges[i].label);
		JG_HTML(h, "</a>");
	}
	JG_HTML(h, "</nav><form method=\"get\" class=\"filters debug-search\" id=\"range-form\" "
		   "action=\"/debug/");
	jg_html_url_part(h, d->service);
	JG_HTML(h, "/metrics\">");
	hidden(h, "grant", d->grant);
	for (size_t i = 0; i < names->n; i++)
		hidden(h, "name", names->v[i]);
	JG_HTML(h, "<label for=\"since\">From<input type=\"text\" id=\"since\" name=\"since\" "
		   "maxlength=\"40\" placeholder=\"RFC 3339 or 1h\" value=\"");
	jg_html_text(h, since);
	JG_HTML(h, "\"></label><label for=\"until\">Until <span class=\"hint\">(optional)</span>"
		   "<input type=\"text\" id=\"until\" name=\"until\" maxlength=\"40\" "
		   "placeholder=\"RFC 3339 or 15m\" value=\"");
	jg_html_text(h, until);
	JG_HTML(h, "\"></label><label for=\"step\">Step <span class=\"hint\">(optional)</span>"
		   "<input type=\"text\" id=\"step\" name=\"step\" maxlength=\"20\" "
		   "placeholder=\"1m\" value=\"");
	jg_html_text(h, step);
	JG_HTML(h, "\"></label><button type=\"submit\" class=\"primary\">Show</button></form>");
}

/* The list of the service's metrics (the API's answer without name). */
static void
names_list(struct jg_web_debug *d, json_t *result)
{
	struct jg_html *h = &d->w.h;
	json_t *metrics = json_object_get(result, "metrics"), *m;
	size_t i;

	if (json_array_size(metrics) == 0) {
		JG_HTML(h, "<p class=\"empty\" id=\"no-metrics\">No metric in this range.</p>");
		return;
	}
	JG_HTML(h, "<form method=\"get\" id=\"metric-pick\" action=\"/debug/");
	jg_html_url_part(h, d->service);
	JG_HTML(h, "/metrics\">");
	hidden(h, "grant", d->grant);
	hidden(h, "since", jg_http_query(d->w.req, "since"));
	hidden(h, "until", jg_http_query(d->w.req, "until"));
	hidden(h, "step", jg_http_query(d->w.req, "step"));
	JG_HTML(h, "<div class=\"table-wrap\"><table id=\"metric-names\"><caption>Metrics of ");
	jg_html_text(h, d->service);
	JG_HTML(h, "; open one, or tick several to chart them together</caption><thead><tr>"
		   "<th scope=\"col\"><span class=\"visually-hidden\">Chart</span></th>"
		   "<th scope=\"col\">Metric</th><th scope=\"col\">Kind</th><th scope=\"col\">Unit"
		   "</th><th scope=\"col\">Description</th><th scope=\"col\">Points</th>"
		   "<th scope=\"col\">Last</th></tr></thead><tbody>");
	json_array_foreach(metrics, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		if (name == NULL)
			continue;
		JG_HTML(h, "<tr><td><input type=\"checkbox\" name=\"name\" id=\"pick-");
		jg_html_textf(h, "%zu", i);
		JG_HTML(h, "\" value=\"");
		jg_html_text(h, name);
		JG_HTML(h, "\" aria-label=\"chart ");
		jg_html_text(h, name);
		JG_HTML(h, "\"></td><th scope=\"row\"><a class=\"metric-link\" href=\"");
		jg_web_debug_href(h, d->service, "metrics", d->grant);
		JG_HTML(h, "&amp;name=");
		jg_html_url_part(h, name);
		range_args(h, d->w.req, 1);
		JG_HTML(h, "\">");
		jg_html_text(h, name);
		JG_HTML(h, "</a></th><td>");
		jg_html_text(h, json_string_value(json_object_get(m, "kind")));
		JG_HTML(h, "</td><td>");
		jg_html_text(h, json_string_value(json_object_get(m, "unit")));
		JG_HTML(h, "</td><td>");
		jg_html_text(h, json_string_value(json_object_get(m, "description")));
		JG_HTML(h, "</td><td class=\"num\">");
		jg_html_textf(h, "%lld",
			      (long long)json_integer_value(json_object_get(m, "points")));
		JG_HTML(h, "</td><td>");
		jg_html_text(h, json_string_value(json_object_get(m, "last")));
		JG_HTML(h, "</td></tr>");
	}
	JG_HTML(h, "</tbody></table></div><p class=\"actions\"><button type=\"submit\" "
		   "class=\"primary\">Chart the ticked metrics</button></p></form>");
}

/* One load of the page: its names, and what has been read (a retry goes on from there). */
struct metrics_load {
	struct names names;
	size_t lens[MAX_NAMES];
	int parsed;
	struct jg_api_error bad; /* a bad name list (status 400), or status 0 */
	json_t *results[MAX_NAMES], *list;
};

/*
 * One read per name, or the list; a name list too long or not UTF-8 reads
 * nothing (400).  *result is the first thing read (its "redacted" marks
 * the page), even when a later name is refused.
 */
static int
metrics_read(struct jg_web_debug *d, void *arg, json_t **result, struct jg_api_error *e)
{
	struct metrics_load *m = arg;
	struct jg_http_request *req = d->w.req;
	int rc = 0;

	if (!m->parsed) {
		m->parsed = 1;
		if (jg_http_query_all(req, "name", m->names.v, m->lens, MAX_NAMES, &m->names.n) !=
		    0) {
			m->names.n = 0;
			jg_api_error_set(&m->bad, 400, "bad_request",
					 "at most %d metrics on one page", MAX_NAMES);
		}
		for (size_t i = 0; i < m->names.n && m->bad.status == 0; i++)
			if (m->lens[i] != strlen(m->names.v[i]))
				jg_api_error_set(&m->bad, 400, "bad_request",
						 "'name' must be 1 to 255 bytes of UTF-8");
	}
	if (m->bad.status != 0) {
		*e = m->bad;
		return JG_EINVAL;
	}
	if (m->names.n == 0) {
		if ((rc = jg_api_metrics_read(req, d->service, NULL, d->authorization, &m->list,
					      e)) == 0)
			*result = json_incref(m->list);
		return rc;
	}
	for (size_t i = 0; i < m->names.n && rc == 0; i++)
		if (m->results[i] == NULL)
			rc = jg_api_metrics_read(req, d->service, m->names.v[i], d->authorization,
						 &m->results[i], e);
	*result = json_incref(m->results[0]);
	return rc;
}

static void
metrics_form(struct jg_web_debug *d, void *arg)
{
	struct metrics_load *m = arg;
	range_selector(d, &m->names);
}

static int
metrics_render(struct jg_web_debug *d, void *arg, json_t *result)
{
	struct metrics_load *m = arg;
	struct jg_html *h = &d->w.h;
	(void)result;

	if (m->names.n == 0) {
		names_list(d, m->list);
	} else {
		JG_HTML(h, "<p class=\"hint\">Point at a line for its values; each chart's table "
			   "lists every point.</p><div id=\"charts\">");
		for (size_t i = 0; i < m->names.n; i++) {
			json_t *metrics = json_object_get(m->results[i], "metrics");
			if (json_array_size(metrics) == 0) {
				JG_HTML(h, "<p class=\"empty no-series\">No point of <code>");
				jg_html_text(h, m->names.v[i]);
				JG_HTML(h, "</code> in this range.</p>");
				continue;
			}
			if (jg_web_metric_charts(h, m->results[i]) == JG_EINVAL) {
				JG_HTML(h, "<p class=\"notice error\">The series of <code>");
				jg_html_text(h, m->names.v[i]);
				JG_HTML(h, "</code> cannot be drawn.</p>");
			}
		}
		JG_HTML(h, "</div>");
	}
	return 200;
}

static const char *const metrics_args[] = {"grant", "name", "since", "until", "step"};
static const struct jg_web_debug_page metrics_page = {
    .page = "metrics",
    .capability = "read-metrics",
    .args = metrics_args,
    .nargs = sizeof(metrics_args) / sizeof(metrics_args[0]),
    .title = "Metrics of",
    .read = metrics_read,
    .form = metrics_form,
    .render = metrics_render,
};

static void
handle_metrics_page(struct jg_http_request *req, struct jg_http_reply *reply)
{
	struct metrics_load m = {.parsed = 0};

	jg_web_debug_run(req, reply, &metrics_page, &m);
	for (size_t i = 0; i < MAX_NAMES; i++)
		json_decref(m.results[i]);
	json_decref(m.list);
}

static const struct jg_route routes[] = {
    {"GET", "/debug/{svc}/metrics", handle_metrics_page, NULL, 0},
};
const struct jg_route_table jg_web_metrics_routes = {routes, sizeof(routes) / sizeof(routes[0])};
