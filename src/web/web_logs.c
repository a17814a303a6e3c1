/*
 * logs.c (web) - the logs page: GET /debug/{svc}/logs (read-logs).
 *
 * A search form (the API's words `q`, the lowest level, a time range),
 * then the records newest first, each a <details> whose summary is its
 * time, level and message and whose body holds its attributes, resource,
 * span and a link from its trace id to the trace page; then the link to
 * the next page, which carries the sealed next_cursor of the read.  The
 * page's own query string is the API's (q, level, since, until, limit,
 * trace_id, cursor) plus grant=, so the read is jg_api_logs_read() on this
 * very request (api_read.h) with the token of the session (web_debug.c):
 * the same checks, the same audit entry (logs.read), the same redaction.
 * Every link keeps the query and the grant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/app.h"
#include "jitgate/error.h"
#include "jitgate/web.h"
#include "web_int.h"

static const char *const levels[] = {"trace", "debug", "info", "warn", "error", "fatal"};
#define NLEVELS (sizeof(levels) / sizeof(levels[0]))

/* The time ranges offered ("since" as the API takes it: a duration ago). */
static const struct {
	const char *since, *label;
} ranges[] = {
    {"", "any time"},	    {"15m", "last 15 minutes"}, {"1h", "last hour"},
    {"6h", "last 6 hours"}, {"24h", "last 24 hours"},	{"7d", "last 7 days"},
};
#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

/* The query arguments a link keeps (cursor is set by each link itself). */
static const char *const kept[] = {"q", "level", "since", "until", "limit", "trace_id"};

/* "&amp;k=v" for each kept argument of req that is set. */
static void
kept_args(struct jg_html *h, struct jg_http_request *req, const char *skip)
{
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		const char *v = jg_http_query(req, kept[i]);
		if (v == NULL || v[0] == '\0' || (skip != NULL && strcmp(skip, kept[i]) == 0))
			continue;
		JG_HTML(h, "&amp;");
		jg_html_text(h, kept[i]);
		JG_HTML(h, "=");
		jg_html_url_part(h, v);
	}
}

/* A JSON value as text: a string as it is, anything else as compact JSON. */
static void
value_text(struct jg_html *h, json_t *v)
{
	if (json_is_string(v)) {
		jg_html_text(h, json_string_value(v));
		return;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	jg_html_text(h, s ? s : "");
	free(s);
}

static void
attr_rows(struct jg_html *h, json_t *obj, const char *prefix)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		JG_HTML(h, "<dt>");
		if (prefix)
			jg_html_text(h, prefix);
		jg_html_text(h, k);
		JG_HTML(h, "</dt><dd>");
		value_text(h, v);
		JG_HTML(h, "</dd>");
	}
}

static void
search_form(struct jg_web_debug *d, void *arg)
{
	struct jg_html *h = &d->w.h;
	struct jg_http_request *req = d->w.req;
	const char *q = jg_http_query(req, "q"), *level = jg_http_query(req, "level"),
		   *since = jg_http_query(req, "since"), *until = jg_http_query(req, "until"),
		   *limit = jg_http_query(req, "limit"), *tid = jg_http_query(req, "trace_id");
	int known = 0;

	(void)arg; /* the page's form (jg_web_debug_page) needs nothing more */
	JG_HTML(h, "<form method=\"get\" class=\"filters debug-search\" role=\"search\" "
		   "action=\"/debug/");
	jg_html_url_part(h, d->service);
	JG_HTML(h, "/logs\"><input type=\"hidden\" name=\"grant\" value=\"");
	jg_html_text(h, d->grant);
	JG_HTML(h, "\">");
	if (limit) {
		JG_HTML(h, "<input type=\"hidden\" name=\"limit\" value=\"");
		jg_html_text(h, limit);
		JG_HTML(h, "\">");
	}
	if (tid) {
		JG_HTML(h, "<input type=\"hidden\" name=\"trace_id\" value=\"");
		jg_html_text(h, tid);
		JG_HTML(h, "\">");
	}
	JG_HTML(h, "<label for=\"q\">Words<input type=\"search\" id=\"q\" name=\"q\" "
		   "maxlength=\"256\" placeholder=\"timeout card\" value=\"");
	jg_html_text(h, q);
	JG_HTML(h, "\"></label><label for=\"level\">Lowest level<select id=\"level\" "
		   "name=\"level\"><option value=\"\">any</option>");
	for (size_t i = 0; i < NLEVELS; i++) {
		JG_HTML(h, "<option value=\"");
		jg_html_text(h, levels[i]);
		JG_HTML(h, "\"");
		if (level && strcmp(level, levels[i]) == 0)
			JG_HTML(h, " selected");
		JG_HTML(h, ">");
		jg_html_text(h, levels[i]);
		JG_HTML(h, "</option>");
	}
	JG_HTML(h, "</select></label><label for=\"since\">From<select id=\"since\" "
		   "name=\"since\">");
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
	JG_HTML(h, "</select></label><label for=\"until\">Until <span class=\"hint\">(optional)"
		   "</span><input type=\"text\" id=\"until\" name=\"until\" maxlength=\"40\" "
		   "placeholder=\"RFC 3339 or 15m\" value=\"");
	jg_html_text(h, until);
	JG_HTML(h, "\"></label><button type=\"submit\" class=\"primary\">Search</button></form>");
	if (tid) {
		JG_HTML(h, "<p class=\"notice\">Only the records of trace <code>");
		jg_html_text(h, tid);
		JG_HTML(h, "</code>. <a href=\"");
		jg_web_debug_href(h, d->service, "logs", d->grant);
		kept_args(h, req, "trace_id");
		JG_HTML(h, "\">All records</a></p>");
	}
}

static void
record(struct jg_web_debug *d, json_t *r)
{
	struct jg_html *h = &d->w.h;
	const char *level = json_string_value(json_object_get(r, "level")),
		   *tid = json_string_value(json_object_get(r, "trace_id")),
		   *sid = json_string_value(json_object_get(r, "span_id")),
		   *withheld = json_string_value(json_object_get(r, "withheld"));
	json_t *body = json_object_get(r, "body");

	JG_HTML(h, "<li class=\"log\"><details><summary><time datetime=\"");
	jg_html_text(h, json_string_value(json_object_get(r, "time")));
	JG_HTML(h, "\">");
	jg_html_text(h, json_string_value(json_object_get(r, "time")));
	JG_HTML(h, "</time> <span class=\"level level-");
	jg_html_text(h, level ? level : "unknown");
	JG_HTML(h, "\">");
	jg_html_text(h, level ? level : "-");
	JG_HTML(h, "</span> <span class=\"log-body\">");
	if (withheld) {
		JG_HTML(h, "<em>withheld: ");
		jg_html_text(h, withheld);
		JG_HTML(h, "</em>");
	} else if (body != NULL && !json_is_null(body)) {
		value_text(h, body);
	}
	JG_HTML(h, "</span></summary><dl class=\"log-attrs\">");
	if (tid && tid[0]) {
		JG_HTML(h, "<dt>Trace</dt><dd><a class=\"trace-link\" href=\"/debug/");
		jg_html_url_part(h, d->service);
		JG_HTML(h, "/traces/");
		jg_html_url_part(h, tid);
		JG_HTML(h, "?grant=");
		jg_html_url_part(h, d->grant);
		JG_HTML(h, "\"><code>");
		jg_html_text(h, tid);
		JG_HTML(h, "</code></a> · <a href=\"");
		jg_web_debug_href(h, d->service, "logs", d->grant);
		JG_HTML(h, "&amp;trace_id=");
		jg_html_url_part(h, tid);
		JG_HTML(h, "\">its logs</a></dd>");
	}
	if (sid && sid[0]) {
		JG_HTML(h, "<dt>Span</dt><dd><code>");
		jg_html_text(h, sid);
		JG_HTML(h, "</code></dd>");
	}
	attr_rows(h, json_object_get(r, "attributes"), NULL);
	attr_rows(h, json_object_get(r, "resource"), "resource: ");
	JG_HTML(h, "<dt>Record</dt><dd><code>");
	jg_html_textf(h, "%lld", (long long)json_integer_value(json_object_get(r, "id")));
	JG_HTML(h, "</code></dd></dl></details></li>");
}

static int
logs_read(struct jg_web_debug *d, void *arg, json_t **result, struct jg_api_error *e)
{
	(void)arg;
	return jg_api_logs_read(d->w.req, d->service, d->authorization, result, e);
}

static int
logs_render(struct jg_web_debug *d, void *arg, json_t *result)
{
	struct jg_http_request *req = d->w.req;
	struct jg_html *h = &d->w.h;
	(void)arg;

	json_t *logs = json_object_get(result, "logs");
	const char *next = json_string_value(json_object_get(result, "next_cursor"));
	if (json_array_size(logs) == 0) {
		JG_HTML(h, "<p class=\"empty\" id=\"no-logs\">No log record matches.</p>");
	} else {
		JG_HTML(h, "<p class=\"hint\">Newest first; open a record for its attributes.</p>"
			   "<ol class=\"logs\" id=\"logs\">");
		size_t i;
		json_t *r;
		json_array_foreach(logs, i, r)
		{
			record(d, r);
		}
		JG_HTML(h, "</ol>");
	}
	JG_HTML(h, "<nav class=\"pager actions\" aria-label=\"pages\">");
	if (jg_http_query(req, "cursor") != NULL) {
		JG_HTML(h, "<a class=\"button secondary\" id=\"newest\" href=\"");
		jg_web_debug_href(h, d->service, "logs", d->grant);
		kept_args(h, req, NULL);
		JG_HTML(h, "\">Newest</a>");
	}
	if (next != NULL) {
		JG_HTML(h, "<a class=\"button\" rel=\"next\" id=\"older\" href=\"");
		jg_web_debug_href(h, d->service, "logs", d->grant);
		kept_args(h, req, NULL);
		JG_HTML(h, "&amp;cursor=");
		jg_html_url_part(h, next);
		JG_HTML(h, "\">Older records</a>");
	}
	JG_HTML(h, "</nav>");
	return 200;
}

static const char *const logs_args[] = {"grant", "q",	  "level",    "since",
					"until", "limit", "trace_id", "cursor"};
static const struct jg_web_debug_page logs_page = {
    .page = "logs",
    .capability = "read-logs",
    .args = logs_args,
    .nargs = sizeof(logs_args) / sizeof(logs_args[0]),
    .title = "Logs of",
    .read = logs_read,
    .form = search_form,
    .render = logs_render,
};

static void
handle_logs_page(struct jg_http_request *req, struct jg_http_reply *reply)
{
	jg_web_debug_run(req, reply, &logs_page, NULL);
}

static const struct jg_route routes[] = {
    {"GET", "/debug/{svc}/logs", handle_logs_page, NULL, 0},
};
const struct jg_route_table jg_web_logs_routes = {routes, sizeof(routes) / sizeof(routes[0])};
