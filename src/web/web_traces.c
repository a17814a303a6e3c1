/*
 * traces.c (web) - the traces pages (read-traces):
 *
 *   GET /debug/{svc}/traces             the search: a form (time range,
 *       status, shortest and longest duration, up to four attribute
 *       filters key:value)
 *       and the traces found as a table (trace id linking to its page,
 *       root span, services, spans, duration, status, start);
 *   GET /debug/{svc}/traces/{trace_id}  one trace: its analysis in words,
 *       its waterfall and a <details> row per span (web_svg.h).
 *
 * As on the logs page (web_logs.c) the page's query string is the API's
 * (since, until, status, min_duration, max_duration, limit, attr=key:value
 * repeated;
 * adjust_skew on a trace) plus grant=, so each read is the API's own
 * function (api_read.h: jg_api_traces_search_read, jg_api_trace_read) on
 * this very request with the token kept for the session: the same checks,
 * the same audit entry (traces.search, traces.read), the same redaction
 * and withholding.  The search does not page (the API answers the newest
 * `limit` traces, at most 200): the page says when the list may be cut and
 * offers the longest list, or a narrower range.  Every link keeps ?grant=.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/telemetry.h"
#include "jitgate/web.h"
#include "web_int.h"
#include "web_svg.h"

/* The time ranges offered ("since" as the API takes it: a duration ago). */
static const struct {
	const char *since, *label;
} ranges[] = {
    {"", "any time"},	    {"15m", "last 15 minutes"}, {"1h", "last hour"},
    {"6h", "last 6 hours"}, {"24h", "last 24 hours"},	{"7d", "last 7 days"},
};
#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

/* The API's largest page of traces (api_traces.c): the "show more" link asks for it. */
#define LIMIT_MAX "200"

/* The search's own arguments (attr repeats), as the API names them. */
static const char *const args[] = {"grant",	   "since",	   "until", "status",
				   "min_duration", "max_duration", "limit", "attr"};
#define NARGS (sizeof(args) / sizeof(args[0]))

/* "&amp;k=v" for each argument of the search that is set (but grant and skip). */
static void
kept_args(struct jg_html *h, struct jg_http_request *req, const char *skip)
{
	const char *vals[JG_TELEMETRY_ATTR_MAX];
	size_t lens[JG_TELEMETRY_ATTR_MAX], n;

	for (size_t i = 1; i < NARGS; i++) {
		if (skip != NULL && strcmp(skip, args[i]) == 0)
			continue;
		if (jg_http_query_all(req, args[i], vals, lens, JG_TELEMETRY_ATTR_MAX, &n) != 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (lens[k] == 0)
				continue;
			JG_HTML(h, "&amp;");
			jg_html_text(h, args[i]);
			JG_HTML(h, "=");
			jg_html_url_part(h, vals[k]);
		}
	}
}

/* A labelled text field of the form, its value as given. */
static void
text_field(struct jg_html *h, const char *id, const char *name, const char *label, const char *hint,
	   const char *placeholder, int maxlength, const char *value)
{
	JG_HTML(h, "<label for=\"");
	jg_html_text(h, id);
	JG_HTML(h, "\">");
	jg_html_text(h, label);
	if (hint) {
		JG_HTML(h, " <span class=\"hint\">");
		jg_html_text(h, hint);
		JG_HTML(h, "</span>");
	}
	JG_HTML(h, "<input type=\"text\" id=\"");
	jg_html_text(h, id);
	JG_HTML(h, "\" name=\"");
	jg_html_text(h, name);
	JG_HTML(h, "\" maxlength=\"");
	jg_html_textf(h, "%d", maxlength);
	JG_HTML(h, "\" placeholder=\"");
	jg_html_text(h, placeholder);
	JG_HTML(h, "\" value=\"");
	jg_html_text(h, value);
	JG_HTML(h, "\"></label>");
}

static void
search_form(struct jg_web_debug *d, void *arg)
{
	struct jg_html *h = &d->w.h;
	struct jg_http_request *req = d->w.req;
	const char *since = jg_http_query(req, "since"), *status = jg_http_query(req, "status"),
		   *limit = jg_http_query(req, "limit");
	const char *attrs[JG_TELEMETRY_ATTR_MAX];
	size_t lens[JG_TELEMETRY_ATTR_MAX], nattr = 0;
	int known = 0;

	(void)arg; /* the page's form (jg_web_debug_page) needs nothing more */
	if (jg_http_query_all(req, "attr", attrs, lens, JG_TELEMETRY_ATTR_MAX, &nattr) != 0)
		nattr = 0; /* too many: the read said so */
	JG_HTML(h, "<form method=\"get\" class=\"filters debug-search trace-search\" "
		   "role=\"search\" action=\"/debug/");
	jg_html_url_part(h, d->service);
	JG_HTML(h, "/traces\"><input type=\"hidden\" name=\"grant\" value=\"");
	jg_html_text(h, d->grant);
	JG_HTML(h, "\">");
	if (limit) {
		JG_HTML(h, "<input type=\"hidden\" name=\"limit\" value=\"");
		jg_html_text(h, limit);
		JG_HTML(h, "\">");
	}
	JG_HTML(h, "<label for=\"since\">From<select id=\"since\" name=\"since\">");
	for (size_t i = 0; i < NRANGES; i++) {
		int sel = since ? strcmp(since, ranges[i].since) == 0 : ranges[i].since[0] == '\0';
		known |= sel;
		JG_HTML(h, "<option value=\"");
		jg_html_text(h, ranges[i].since);
		JG_HTML(h, "\"");
		if (sel)
			JG_HTML(h, " selected");
		JG_HTML(h, ">");
		jg_html_text(h, ranges[i].label);
		JG_HTML(h, "</option>");
	}
	if (!known && since) { /* a time given in the URL stays chosen */
		JG_HTML(h, "<option selected value=\"");
		jg_html_text(h, since);
		JG_HTML(h, "\">since ");
		jg_html_text(h, since);
		JG_HTML(h, "</option>");
	}
	JG_HTML(h, "</select></label>");
	text_field(h, "until", "until", "Until", "(optional)", "RFC 3339 or 15m", 40,
		   jg_http_query(req, "until"));
	JG_HTML(h, "<label for=\"status\">Status<select id=\"status\" name=\"status\">"
		   "<option value=\"\">any</option><option value=\"error\"");
	if (status && strcmp(status, "error") == 0)
		JG_HTML(h, " selected");
	JG_HTML(h, ">with an error</option></select></label>");
	text_field(h, "min_duration", "min_duration", "At least", "(duration)", "250ms, 2s", 20,
		   jg_http_query(req, "min_duration"));
	text_field(h, "max_duration", "max_duration", "At most", "(duration)", "5s", 20,
		   jg_http_query(req, "max_duration"));
	JG_HTML(h, "<fieldset class=\"attr-filters\"><legend>Span attributes <span "
		   "class=\"hint\">(key:value, all must match on a span of this service)"
		   "</span></legend>");
	for (size_t i = 0; i < JG_TELEMETRY_ATTR_MAX; i++) {
		char id[16], label[32], *val = NULL;
		snprintf(id, sizeof(id), "attr-%zu", i + 1);
		snprintf(label, sizeof(label), "Filter %zu", i + 1);
		if (i < nattr)
			val = strndup(attrs[i], lens[i]);
		JG_HTML(h, "<label for=\"");
		jg_html_text(h, id);
		JG_HTML(h, "\" class=\"attr-filter\"><span class=\"visually-hidden\">");
		jg_html_text(h, label);
		JG_HTML(h, "</span><input type=\"text\" id=\"");
		jg_html_text(h, id);
		JG_HTML(h, "\" name=\"attr\" maxlength=\"");
		jg_html_textf(h, "%d", JG_TELEMETRY_ATTR_KEY_MAX + JG_TELEMETRY_ATTR_VALUE_MAX + 1);
		JG_HTML(h, "\" placeholder=\"http.route:/v1/payments\" value=\"");
		jg_html_text(h, val);
		JG_HTML(h, "\"></label>");
		free(val);
	}
	JG_HTML(h, "</fieldset><button type=\"submit\" class=\"primary\">Search</button></form>");
}

/* "/debug/{svc}/traces/{tid}?grant=..." escaped for an attribute. */
static void
trace_href(struct jg_html *h, const struct jg_web_debug *d, const char *tid)
{
	JG_HTML(h, "/debug/");
	jg_html_url_part(h, d->service);
	JG_HTML(h, "/traces/");
	jg_html_url_part(h, tid);
	JG_HTML(h, "?grant=");
	jg_html_url_part(h, d->grant);
}

static void
trace_row(struct jg_web_debug *d, json_t *t)
{
	struct jg_html *h = &d->w.h;
	const char *tid = json_string_value(json_object_get(t, "trace_id")),
		   *start = json_string_value(json_object_get(t, "start")),
		   *root_svc = json_string_value(json_object_get(t, "root_service"));
	json_t *root_name = json_object_get(t, "root_name");
	json_int_t errors = json_integer_value(json_object_get(t, "errors"));

	if (tid == NULL)
		return;
	JG_HTML(h, "<tr");
	if (errors > 0)
		JG_HTML(h, " class=\"failed\"");
	JG_HTML(h, "><td><a class=\"trace-link\" href=\"");
	trace_href(h, d, tid);
	JG_HTML(h, "\"><code>");
	jg_html_text(h, tid);
	JG_HTML(h, "</code></a></td><td>");
	if (json_is_string(root_name)) {
		jg_html_text(h, json_string_value(root_name));
		JG_HTML(h, " <span class=\"hint\">");
		jg_html_text(h, root_svc ? root_svc : "");
		JG_HTML(h, "</span>");
	} else {
		JG_HTML(h, "<em>no root span received</em>");
	}
	JG_HTML(h, "</td><td class=\"services\">");
	jg_web_join(h, json_object_get(t, "services"));
	JG_HTML(h, "</td><td class=\"num\">");
	jg_html_textf(h, "%lld", (long long)json_integer_value(json_object_get(t, "spans")));
	JG_HTML(h, "</td><td class=\"num\">");
	jg_html_textf(h, "%lld ms",
		      (long long)json_integer_value(json_object_get(t, "duration_ms")));
	JG_HTML(h, "</td><td>");
	if (errors > 0) {
		JG_HTML(h, "<span class=\"status-error\">error</span> <span class=\"hint\">");
		jg_html_textf(h, "(%lld span%s)", (long long)errors, errors == 1 ? "" : "s");
		JG_HTML(h, "</span>");
	} else {
		JG_HTML(h, "<span class=\"status-ok\">ok</span>");
	}
	JG_HTML(h, "</td><td><time datetime=\"");
	jg_html_text(h, start);
	JG_HTML(h, "\">");
	if (start != NULL && strlen(start) >= 19) /* RFC 3339: shown to the second, in UTC */
		jg_html_textf(h, "%.10s %.8s UTC", start, start + 11);
	else
		jg_html_text(h, start);
	JG_HTML(h, "</time></td></tr>");
}

static int
traces_read(struct jg_web_debug *d, void *arg, json_t **result, struct jg_api_error *e)
{
	(void)arg;
	return jg_api_traces_search_read(d->w.req, d->service, d->authorization, result, e);
}

static int
traces_render(struct jg_web_debug *d, void *arg, json_t *result)
{
	struct jg_http_request *req = d->w.req;
	struct jg_html *h = &d->w.h;
	(void)arg;

	json_t *traces = json_object_get(result, "traces");
	const char *searched = json_string_value(json_object_get(result, "searched_since"));
	const char *limit = jg_http_query(req, "limit");
	size_t n = json_array_size(traces), want = limit ? (size_t)strtoul(limit, NULL, 10) : 50;
	if (searched) {
		JG_HTML(h, "<p class=\"notice warn\" id=\"searched-since\">The attribute filters "
			   "searched the spans since <time>");
		jg_html_text(h, searched);
		JG_HTML(h, "</time> only: set Until to that time to search older ones.</p>");
	}
	if (n == 0) {
		JG_HTML(h, "<p class=\"empty\" id=\"no-traces\">No trace matches.</p>");
	} else {
		JG_HTML(h,
			"<p class=\"hint\">Newest first; open a trace for its waterfall and "
			"analysis.</p><div class=\"table-wrap\"><table class=\"traces\" "
			"id=\"traces\"><caption class=\"visually-hidden\">Traces found</caption>"
			"<thead><tr><th scope=\"col\">Trace</th><th scope=\"col\">Root span</th>"
			"<th scope=\"col\">Services</th><th scope=\"col\" class=\"num\">Spans</th>"
			"<th scope=\"col\" class=\"num\">Duration</th><th scope=\"col\">Status</th>"
			"<th scope=\"col\">Start</th></tr></thead><tbody>");
		size_t i;
		json_t *t;
		json_array_foreach(traces, i, t)
		{
			trace_row(d, t);
		}
		JG_HTML(h, "</tbody></table></div>");
	}
	if (n > 0 && n >= want) {
		/* the API does not page: the newest `limit` traces, the rest not shown */
		JG_HTML(h, "<p class=\"notice\" id=\"cut\">The newest ");
		jg_html_textf(h, "%zu", n);
		JG_HTML(h, " traces are shown; older ones may match too: narrow the time range");
		if (limit == NULL || strcmp(limit, LIMIT_MAX) != 0) {
			JG_HTML(h, ", or <a id=\"more\" href=\"");
			jg_web_debug_href(h, d->service, "traces", d->grant);
			kept_args(h, req, "limit");
			JG_HTML(h, "&amp;limit=" LIMIT_MAX "\">show up to " LIMIT_MAX "</a>");
		}
		JG_HTML(h, ".</p>");
	}
	return 200;
}

static const struct jg_web_debug_page traces_page = {
    .page = "traces",
    .capability = "read-traces",
    .args = args,
    .nargs = NARGS,
    .title = "Traces of",
    .read = traces_read,
    .form = search_form,
    .render = traces_render,
};

static void
handle_traces_page(struct jg_http_request *req, struct jg_http_reply *reply)
{
	jg_web_debug_run(req, reply, &traces_page, NULL);
}

/* arg: the {trace_id} of the route (a const char **) */
static int
trace_read(struct jg_web_debug *d, void *arg, json_t **result, struct jg_api_error *e)
{
	const char *const *tid = arg;
	return jg_api_trace_read(d->w.req, d->service, *tid, d->authorization, result, e);
}

static int
trace_render(struct jg_web_debug *d, void *arg, json_t *result)
{
	struct jg_http_request *req = d->w.req;
	const char *tid = *(const char *const *)arg;
	const char *id = json_string_value(json_object_get(result, "trace_id"));
	bool adjusted = jg_http_query(req, "adjust_skew") != NULL &&
			strcmp(jg_http_query(req, "adjust_skew"), "true") == 0;
	struct jg_html *h = &d->w.h;
	JG_HTML(h, "<p class=\"trace-head\">Trace <code id=\"trace-id\">");
	jg_html_text(h, id ? id : tid);
	JG_HTML(h, "</code></p><nav class=\"actions trace-nav\" aria-label=\"this trace\">"
		   "<a class=\"button secondary\" id=\"back\" href=\"");
	jg_web_debug_href(h, d->service, "traces", d->grant);
	JG_HTML(h, "\">Search traces</a>");
	size_t i;
	json_t *c;
	json_array_foreach(d->grant_caps, i, c)
	{
		if (json_is_string(c) && strcmp(json_string_value(c), "read-logs") == 0) {
			JG_HTML(h, "<a class=\"button secondary\" id=\"its-logs\" href=\"");
			jg_web_debug_href(h, d->service, "logs", d->grant);
			JG_HTML(h, "&amp;trace_id=");
			jg_html_url_part(h, id ? id : tid);
			JG_HTML(h, "\">Its logs</a>");
		}
	}
	JG_HTML(h, "<a class=\"button secondary\" id=\"skew\" href=\"");
	trace_href(h, d, id ? id : tid);
	if (!adjusted)
		JG_HTML(h, "&amp;adjust_skew=true\">Adjust for clock skew</a>");
	else
		JG_HTML(h, "\">As recorded (no skew adjustment)</a>");
	JG_HTML(h, "</nav>");
	if (jg_web_trace_analysis(h, result) != 0 || jg_web_waterfall(h, result, 0) != 0 ||
	    jg_web_trace_spans(h, result, 0) != 0)
		JG_HTML(h, "<p class=\"notice error\" role=\"alert\">Part of this trace could not "
			   "be drawn.</p>");
	return 200;
}

static const struct jg_web_debug_page trace_page = {
    .page = "traces",
    .capability = "read-traces",
    .title = "Trace of",
    .read = trace_read,
    .render = trace_render,
};

static void
handle_trace_page(struct jg_http_request *req, struct jg_http_reply *reply)
{
	const char *tid = jg_http_param(req, "trace_id");
	jg_web_debug_run(req, reply, &trace_page, &tid);
}

static const struct jg_route routes[] = {
    {"GET", "/debug/{svc}/traces", handle_traces_page, NULL, 0},
    {"GET", "/debug/{svc}/traces/{trace_id}", handle_trace_page, NULL, 0},
};
const struct jg_route_table jg_web_traces_routes = {routes, sizeof(routes) / sizeof(routes[0])};
