/*
 * test_web_svg.c - the pictures of the debug pages (src/web/web_svg.h): what
 * a user reads off them.  The waterfall: a bar's x and width in proportion to
 * the span's start and duration, children after their parent and indented,
 * the error and root-cause marks on the right spans, the tick labels, the cap
 * on spans drawn; the analysis in words with a withheld message never shown;
 * the charts: polylines monotonic in time inside the plot area, round tick
 * values and UTC time labels, a table row per point, a flat line and a single
 * point drawn without dividing by zero, huge and negative values, gaps.  And
 * every name, attribute and label from the data is text, never markup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/web/web_svg.h"
#include "jitgate/error.h"
#include "jitgate/trace_analysis.h"

#define T0 1764000000000000000LL /* 2025-11-24 16:00:00 UTC */
#define MS 1000000LL

/* The waterfall's geometry (web_waterfall.c): bars between x 330 and 940, rows of 20 below 32. */
#define WF_X0 330.0
#define WF_X1 940.0
/* The chart's plot area (web_chart.c). */
#define CH_X0 76.0
#define CH_X1 780.0
#define CH_Y0 28.0
#define CH_Y1 272.0

/* ---- helpers ------------------------------------------------------------------ */

static json_t *
span(const char *id, const char *parent, const char *svc, const char *version, const char *name,
     int64_t start_ms, int64_t end_ms, const char *status, const char *code)
{
	json_t *s = json_pack(
	    "{s:s,s:s,s:s?,s:s,s:s?,s:s,s:s,s:s,s:I,s:I,s:f,s:s,s:s?,s:{},s:[],s:b,s:[]}",
	    "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736", "span_id", id, "parent_span_id", parent,
	    "service", svc, "service_version", version, "instance", svc, "name", name, "kind",
	    "server", "start_ns", (json_int_t)(T0 + start_ms * MS), "end_ns",
	    (json_int_t)(T0 + end_ms * MS), "duration_ms", (double)(end_ms - start_ms), "status",
	    status, "error_code", code, "attributes", "events", "withheld", 0, "children");
	assert_non_null(s);
	return s;
}

static json_t *
child(json_t *parent, json_t *c)
{
	json_array_append_new(json_object_get(parent, "children"), c);
	return c;
}

/*
 * p1 payment-service 0-1000 ms error 502
 *   c1 checkout 100-600 error 500
 *     d1 payment-accounts 2.4.0 200-300 error DB_STATEMENT_TIMEOUT (the root cause, withheld)
 *   c2 fraud-service 700-900 ok
 */
static json_t *
story(void)
{
	json_t *p1 = span("p1", NULL, "payment-service", "3.7.0", "POST /v1/payments", 0, 1000,
			  "error", "502");
	json_object_set_new(p1, "error", json_string("payment failed: ledger hold returned 502"));
	json_object_set_new(
	    p1, "attributes",
	    json_pack("{s:s,s:i}", "http.route", "/v1/payments", "http.response.status_code", 502));
	json_t *c1 =
	    child(p1, span("c1", "p1", "checkout", "1.8.2", "charge", 100, 600, "error", "500"));
	json_object_set_new(c1, "withheld", json_true());
	json_t *d1 = child(c1, span("d1", "c1", "payment-accounts", "2.4.0", "UPDATE accounts", 200,
				    300, "error", "DB_STATEMENT_TIMEOUT"));
	json_object_set_new(d1, "withheld", json_true());
	json_t *c2 =
	    child(p1, span("c2", "p1", "fraud-service", "1.0.4", "score", 700, 900, "ok", NULL));
	json_object_set_new(c2, "withheld", json_true());

	json_t *analysis = json_pack(
	    "{s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:[s,s,s],s:{s:s,s:s,s:s}}],"
	    "s:[{s:s,s:[{s:s,s:i,s:[{s:s,s:i}]},{s:s,s:i,s:[{s:s,s:i}]}]}],"
	    "s:[{s:s,s:s,s:I,s:f,s:b,s:[]}],s:[],s:[s,s,s]}",
	    "root_causes", "span_id", "d1", "service", "payment-accounts", "instance",
	    "payment-accounts-7c9f", "service_version", "2.4.0", "operation", "UPDATE accounts",
	    "error_code", "DB_STATEMENT_TIMEOUT", "withheld", 1, "start_ns",
	    (json_int_t)(T0 + 200 * MS), "end_ns", (json_int_t)(T0 + 300 * MS), "explains", "d1",
	    "c1", "p1", "surfaced", "span_id", "p1", "service", "payment-service", "operation",
	    "POST /v1/payments", "version_skew", "service", "payment-accounts", "versions",
	    "version", "2.3.9", "spans", 1, "instances", "instance", "payment-accounts-1", "spans",
	    1, "version", "2.4.0", "spans", 1, "instances", "instance", "payment-accounts-7c9f",
	    "spans", 1, "clock_skew", "service", "fraud-service", "instance", "fraud-1",
	    "offset_ns", (json_int_t)(15 * MS), "offset_ms", 15.0, "conflict", 0, "artefacts",
	    "fragments", "affected_services", "checkout", "payment-accounts", "payment-service");
	assert_non_null(analysis);
	json_t *trace = json_pack("{s:s,s:[o],s:o,s:s,s:b}", "trace_id",
				  "4bf92f3577b34da6a3ce929d0e0e4736", "spans", p1, "analysis",
				  analysis, "service", "payment-service", "redacted", 1);
	assert_non_null(trace);
	return trace;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + len, needle))
		n++;
	return n;
}

/* The number in name="..." of the first such attribute at or after p. */
static double
attr(const char *p, const char *name)
{
	char key[32];
	snprintf(key, sizeof(key), " %s=\"", name);
	const char *a = strstr(p, key);
	assert_non_null(a);
	return strtod(a + strlen(key), NULL);
}

/* The n-th (0-based) occurrence of needle in hay. */
static const char *
nth(const char *hay, const char *needle, size_t n)
{
	const char *p = strstr(hay, needle);
	while (p != NULL && n-- > 0)
		p = strstr(p + 1, needle);
	assert_non_null(p);
	return p;
}

static void
assert_near(double got, double want)
{
	if (got < want - 0.011 || got > want + 0.011)
		fail_msg("got %.3f, want %.3f", got, want);
}

/* No number that failed: C prints NaN and infinities as words. */
static void
assert_no_nan(const char *out)
{
	assert_null(strstr(out, "nan"));
	assert_null(strstr(out, "inf\""));
	assert_null(strstr(out, "inf,"));
	assert_null(strstr(out, "inf "));
}

/* ---- the waterfall -------------------------------------------------------------- */

static void
test_waterfall_bars_are_proportional_to_start_and_duration(void **state)
{
	struct jg_html h = {0};
	json_t *t = story();
	(void)state;

	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	/* 1000 ms over 610 units; rows in tree order: p1, c1, d1, c2 */
	const double scale = (WF_X1 - WF_X0) / 1000.0;
	const double want[4][2] = {{0, 1000}, {100, 500}, {200, 100}, {700, 200}};
	for (size_t i = 0; i < 4; i++) {
		const char *bar = nth(h.buf, "<rect class=\"bar\"", i);
		assert_near(attr(bar, "x"), WF_X0 + want[i][0] * scale);
		assert_near(attr(bar, "width"), want[i][1] * scale);
		assert_near(attr(bar, "y"), 32 + 20.0 * (double)i + 4);
	}
	assert_int_equal(count(h.buf, "<rect class=\"bar\""), 4);
	/* the axis: round steps of 200 ms from the first start */
	assert_non_null(strstr(h.buf, ">0 ms</text>"));
	assert_non_null(strstr(h.buf, ">200 ms</text>"));
	assert_non_null(strstr(h.buf, ">1000 ms</text>"));
	assert_near(attr(strstr(h.buf, ">200 ms</text>") - 60, "x"), WF_X0 + 200 * scale);
	/* an image with a name */
	assert_non_null(strstr(h.buf, "<svg class=\"waterfall\" role=\"img\""));
	assert_non_null(strstr(h.buf, "aria-label=\"Waterfall of trace "
				      "4bf92f3577b34da6a3ce929d0e0e4736: 4 spans over 1 s\""));
	assert_non_null(strstr(h.buf, "<title>Waterfall of trace"));
	assert_non_null(strstr(h.buf, "4 spans over 1 s."));
	json_decref(t);
	jg_html_free(&h);
}

static void
test_waterfall_children_follow_their_parent_indented(void **state)
{
	struct jg_html h = {0};
	json_t *t = story();
	(void)state;

	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	const char *p1 = strstr(h.buf, "</tspan> POST /v1/payments</text>");
	const char *c1 = strstr(h.buf, "</tspan> charge</text>");
	const char *d1 = strstr(h.buf, "</tspan> UPDATE accounts</text>");
	const char *c2 = strstr(h.buf, "</tspan> score</text>");
	assert_non_null(p1);
	assert_non_null(c1);
	assert_non_null(d1);
	assert_non_null(c2);
	assert_true(p1 < c1 && c1 < d1 && d1 < c2); /* a span, then its subtree, in start order */
	/* the label's x: 4 plus 12 per level */
	const char *label[4] = {p1, c1, d1, c2};
	const double x[4] = {4, 16, 28, 16};
	for (size_t i = 0; i < 4; i++) {
		const char *l = label[i];
		while (strncmp(l, "<text class=\"label\"", 19) != 0)
			l--;
		assert_near(attr(l, "x"), x[i]);
	}
	/* the details rows: the same order, each naming its parent's row */
	jg_html_free(&h);
	assert_int_equal(jg_web_trace_spans(&h, t, 0), 0);
	assert_true(strstr(h.buf, "id=\"span-0\"") < strstr(h.buf, "id=\"span-1\""));
	const char *row2 = strstr(h.buf, "id=\"span-2\"");
	assert_non_null(row2);
	assert_non_null(strstr(row2, "<dt>Parent</dt><dd><a href=\"#span-1\">charge</a>"));
	assert_non_null(strstr(h.buf, "none: the trace's root"));
	json_decref(t);
	jg_html_free(&h);
}

static void
test_waterfall_marks_errors_and_the_root_cause(void **state)
{
	struct jg_html h = {0};
	json_t *t = story();
	(void)state;

	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	/* services coloured in order of first appearance */
	assert_non_null(strstr(h.buf, "<g class=\"span pal-0 error\" data-row=\"0\">"));
	assert_non_null(strstr(h.buf, "<g class=\"span pal-1 error\" data-row=\"1\">"));
	assert_non_null(strstr(h.buf, "<g class=\"span pal-2 error root-cause\" data-row=\"2\">"));
	assert_non_null(strstr(h.buf, "<g class=\"span pal-3\" data-row=\"3\">"));
	assert_int_equal(count(h.buf, "root-cause\""), 2); /* the row, the legend */
	/* a shape for each failed span, words and a band for the cause: not colour alone */
	assert_int_equal(count(h.buf, "<path class=\"mark-error\""), 3);
	assert_int_equal(count(h.buf, "<rect class=\"band\""), 1);
	assert_int_equal(count(h.buf, "<tspan class=\"tag\"> root cause</tspan>"), 1);
	const char *row2 = strstr(h.buf, "data-row=\"2\"");
	assert_true(strstr(row2, "<rect class=\"band\"") < strstr(row2, "data-row=\"3\""));
	assert_non_null(strstr(h.buf, "<li class=\"pal-2\"><span class=\"swatch\"></span>"
				      "payment-accounts</li>"));
	assert_non_null(strstr(h.buf, "<title>UPDATE accounts (payment-accounts): 100 ms, error "
				      "DB_STATEMENT_TIMEOUT, root cause</title>"));

	jg_html_free(&h);
	assert_int_equal(jg_web_trace_spans(&h, t, 0), 0);
	assert_non_null(strstr(h.buf, "class=\"span-row pal-2 depth-2 error root-cause\" "
				      "id=\"span-2\""));
	assert_non_null(strstr(h.buf, "class=\"span-row pal-3 depth-1\" id=\"span-3\""));
	json_decref(t);
	jg_html_free(&h);
}

static void
test_trace_analysis_in_words_and_withheld_message(void **state)
{
	struct jg_html h = {0};
	json_t *t = story();
	(void)state;

	/* a message that must not be shown, on the withheld cause and the withheld span */
	json_t *cause =
	    json_array_get(json_object_get(json_object_get(t, "analysis"), "root_causes"), 0);
	json_object_set_new(cause, "error", json_string("SECRET canceling statement"));
	json_t *d1 = json_array_get(
	    json_object_get(
		json_array_get(
		    json_object_get(json_array_get(json_object_get(t, "spans"), 0), "children"), 0),
		"children"),
	    0);
	assert_string_equal(json_string_value(json_object_get(d1, "span_id")), "d1");
	json_object_set_new(d1, "error", json_string("SECRET canceling statement"));
	json_object_set_new(d1, "attributes", json_pack("{s:s}", "db.statement", "SECRET sql"));

	assert_int_equal(jg_web_trace_analysis(&h, t), 0);
	assert_non_null(strstr(h.buf,
			       "<a href=\"#span-2\">UPDATE accounts</a> on <strong>"
			       "payment-accounts 2.4.0</strong> (payment-accounts-7c9f) failed "
			       "with error code <code>DB_STATEMENT_TIMEOUT</code>; its message "
			       "is <span class=\"withheld\">withheld</span>: your grant does "
			       "not cover payment-accounts."));
	assert_non_null(strstr(h.buf, "It explains 3 failed spans and surfaced at POST "
				      "/v1/payments (payment-service)."));
	assert_non_null(strstr(h.buf, "payment-accounts runs 2 versions in this trace: "
				      "<strong>2.3.9</strong> (1 span on payment-accounts-1); "
				      "<strong>2.4.0</strong> (1 span on payment-accounts-7c9f)."));
	assert_non_null(strstr(h.buf, "The clock of fraud-service (fraud-1) appears about 15 ms "
				      "behind"));
	assert_non_null(strstr(h.buf, "adjusting for skew shifts them by +15 ms."));
	assert_non_null(strstr(h.buf, "Services with failed spans: checkout, payment-accounts, "
				      "payment-service."));
	assert_null(strstr(h.buf, "SECRET"));

	jg_html_free(&h);
	assert_int_equal(jg_web_trace_spans(&h, t, 0), 0);
	assert_null(strstr(h.buf, "SECRET"));
	const char *row2 = strstr(h.buf, "id=\"span-2\"");
	assert_non_null(strstr(row2, "withheld: your grant does not cover payment-accounts"));
	/* a covered span's message and attributes are shown */
	assert_non_null(strstr(h.buf, "<dt>Message</dt><dd>payment failed: ledger hold returned "
				      "502</dd>"));
	assert_non_null(strstr(h.buf, "<dt>http.route</dt><dd>/v1/payments</dd>"));
	assert_non_null(strstr(h.buf, "<dt>http.response.status_code</dt><dd>502</dd>"));

	jg_html_free(&h);
	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	assert_null(strstr(h.buf, "SECRET"));

	/* a covered cause says its message; no failure says so */
	json_object_set_new(cause, "withheld", json_false());
	json_object_set_new(cause, "error", json_string("canceling statement"));
	jg_html_free(&h);
	assert_int_equal(jg_web_trace_analysis(&h, t), 0);
	assert_non_null(
	    strstr(h.buf, "<code>DB_STATEMENT_TIMEOUT</code>: &ldquo;canceling statement&rdquo;."));
	json_array_clear(json_object_get(json_object_get(t, "analysis"), "root_causes"));
	jg_html_free(&h);
	assert_int_equal(jg_web_trace_analysis(&h, t), 0);
	assert_non_null(strstr(h.buf, "<p>No span failed.</p>"));
	json_decref(t);
	jg_html_free(&h);
}

static void
test_trace_text_is_never_markup(void **state)
{
	struct jg_html h = {0};
	json_t *t = story();
	json_t *p1 = json_array_get(json_object_get(t, "spans"), 0);
	(void)state;

	json_object_set_new(p1, "name", json_string("<script>alert(\"x\")</script> & co"));
	json_object_set_new(p1, "service", json_string("svc\"><g onload=\"x\">"));
	json_object_set_new(p1, "error_code", json_string("<img src=x>"));
	json_object_set_new(p1, "error", json_string("</dd><b>bold</b>"));
	json_object_set_new(p1, "attributes",
			    json_pack("{s:s}", "<k onclick=\"y\">", "\"v\" & <i>it</i>"));
	json_object_set_new(p1, "events",
			    json_pack("[{s:s,s:I,s:{}}]", "name", "<ev>", "time_ns",
				      (json_int_t)(T0 + 5 * MS), "attributes"));
	json_t *cause =
	    json_array_get(json_object_get(json_object_get(t, "analysis"), "root_causes"), 0);
	json_object_set_new(cause, "operation", json_string("<svg onload=z>"));

	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	assert_int_equal(jg_web_trace_spans(&h, t, 0), 0);
	assert_int_equal(jg_web_trace_analysis(&h, t), 0);
	assert_null(strstr(h.buf, "<script"));
	assert_null(strstr(h.buf, "<g onload"));
	assert_null(strstr(h.buf, "<img"));
	assert_null(strstr(h.buf, "<b>bold"));
	assert_null(strstr(h.buf, "<k "));
	assert_null(strstr(h.buf, "<i>"));
	assert_null(strstr(h.buf, "<ev>"));
	assert_null(strstr(h.buf, "<svg onload"));
	assert_non_null(
	    strstr(h.buf, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"));
	assert_non_null(strstr(h.buf, "<dt>&lt;k onclick=&quot;y&quot;&gt;</dt><dd>&quot;v&quot; "
				      "&amp; &lt;i&gt;it&lt;/i&gt;</dd>"));
	assert_non_null(strstr(h.buf, "&lt;ev&gt; at +5 ms"));
	/* the service name is one legend entry and one class-free text */
	assert_non_null(strstr(h.buf, "svc&quot;&gt;&lt;g onload=&quot;x&quot;&gt;</li>"));
	json_decref(t);
	jg_html_free(&h);
}

static json_t *
wide_trace(size_t n)
{
	json_t *root = span("r", NULL, "svc-0", NULL, "root", 0, (int64_t)n + 1, "ok", NULL);
	for (size_t i = 1; i < n; i++) {
		char id[32], svc[32];
		snprintf(id, sizeof(id), "s%zu", i);
		snprintf(svc, sizeof(svc), "svc-%zu", i % 12); /* more services than colours */
		child(root, span(id, "r", svc, NULL, "op", (int64_t)i, (int64_t)i + 1, "ok", NULL));
	}
	json_t *t = json_pack("{s:s,s:[o],s:{s:[],s:[],s:[],s:[],s:[]}}", "trace_id", "t", "spans",
			      root, "analysis", "root_causes", "version_skew", "clock_skew",
			      "fragments", "affected_services");
	assert_non_null(t);
	return t;
}

static void
test_waterfall_caps_the_spans_drawn(void **state)
{
	struct jg_html h = {0};
	json_t *t = wide_trace(50);
	(void)state;

	assert_int_equal(jg_web_waterfall(&h, t, 10), 0);
	assert_int_equal(count(h.buf, "<rect class=\"bar\""), 10);
	assert_non_null(strstr(h.buf, "50 spans over 51 ms; the first 10 are drawn, 40 more are "
				      "left out."));
	/* eight colours, then "other" */
	assert_non_null(strstr(h.buf, "<g class=\"span pal-7\" data-row=\"7\">"));
	assert_non_null(strstr(h.buf, "<g class=\"span pal-other\" data-row=\"8\">"));
	assert_non_null(strstr(h.buf, "other services</li>"));
	jg_html_free(&h);
	assert_int_equal(jg_web_trace_spans(&h, t, 10), 0);
	assert_int_equal(count(h.buf, "<details class=\"span-row"), 10);
	assert_non_null(strstr(h.buf, "40 more spans are not listed (the first 10 are)."));
	json_decref(t);
	jg_html_free(&h);

	/* the default cap */
	t = wide_trace(JG_WEB_WATERFALL_MAX_SPANS + 500);
	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	assert_int_equal(count(h.buf, "<rect class=\"bar\""), JG_WEB_WATERFALL_MAX_SPANS);
	assert_non_null(strstr(h.buf, "the first 2000 are drawn, 500 more are left out."));
	json_decref(t);
	jg_html_free(&h);
}

static void
test_waterfall_refuses_what_is_not_a_trace(void **state)
{
	struct jg_html h = {0};
	json_t *t = json_pack("{s:s}", "spans", "no");
	(void)state;
	assert_int_equal(jg_web_waterfall(&h, t, 0), JG_EINVAL);
	assert_int_equal(jg_web_trace_spans(&h, t, 0), JG_EINVAL);
	assert_int_equal(jg_web_trace_analysis(&h, t), JG_EINVAL);
	assert_null(h.buf);
	json_decref(t);
	/* an empty trace is drawn as one */
	t = json_pack("{s:n,s:[],s:{s:[],s:[],s:[],s:[],s:[]}}", "trace_id", "spans", "analysis",
		      "root_causes", "version_skew", "clock_skew", "fragments",
		      "affected_services");
	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	assert_non_null(strstr(h.buf, "0 spans over 0 ms."));
	assert_no_nan(h.buf);
	json_decref(t);
	jg_html_free(&h);
}

/* ---- a trace as the API makes it (jg_trace_analyze, docs/traces.md's example) ----------- */

static json_t *
raw(const char *id, const char *parent, const char *svc, const char *ver, const char *inst,
    const char *name, double start_ms, double end_ms, const char *status, const char *err,
    const char *code)
{
	json_t *s = json_pack(
	    "{s:s,s:s,s:s?,s:s,s:s?,s:s,s:s,s:s,s:I,s:I,s:s,s:s?,s:s?,s:{s:s},s:[]}", "trace_id",
	    "4bf92f3577b34da6a3ce929d0e0e4736", "span_id", id, "parent_span_id", parent, "service",
	    svc, "service_version", ver, "instance", inst, "name", name, "kind", "server",
	    "start_ns", (json_int_t)(T0 + (long long)(start_ms * 1e6)), "end_ns",
	    (json_int_t)(T0 + (long long)(end_ms * 1e6)), "status", status, "error", err,
	    "error_code", code, "attributes", "db.statement",
	    strcmp(svc, "payment-service") == 0 ? "SELECT 1" : "SECRET statement", "events");
	assert_non_null(s);
	return s;
}

static bool
covers_payment_service(const char *service, void *ctx)
{
	(void)ctx;
	return strcmp(service, "payment-service") == 0;
}

static json_t *
analysed_story(bool adjust)
{
	json_t *spans = json_pack(
	    "[o,o,o,o,o,o,o]",
	    raw("p1", NULL, "payment-service", "2.1.0", "pay-7f9c", "POST /v1/payments", 0, 1300,
		"error", "checkout failed", "502"),
	    raw("f1", "p1", "fraud-service", "1.0.4", "fraud-1", "score", -15, 35, "ok", NULL,
		NULL),
	    raw("c1", "p1", "checkout", "1.8.2", "checkout-1", "charge", 70, 1290, "error",
		"SECRET upstream", "500"),
	    raw("l0", "c1", "ledger", "3.3.2", "ledger-1", "ledger.balance", 80, 120, "ok", NULL,
		NULL),
	    raw("l1", "c1", "ledger", "3.4.0", "ledger-2", "ledger.record", 130, 1280, "error",
		"SECRET ledger", "500"),
	    raw("d1", "l1", "postgres", "15.4", "pg-primary", "INSERT ledger_entries", 140, 1140,
		"error", "SECRET canceling statement due to statement timeout", "57014"),
	    raw("n1", "e5", "notifier", "0.9.0", "notifier-1", "send receipt", 1400, 1410.5, "ok",
		NULL, NULL));
	json_t *out = NULL;
	char why[256];
	assert_int_equal(
	    jg_trace_analyze(spans, covers_payment_service, NULL, adjust, &out, why, sizeof(why)),
	    0);
	json_decref(spans);
	return out;
}

static void
test_trace_as_the_api_returns_it(void **state)
{
	struct jg_html h = {0};
	json_t *t = analysed_story(false);
	(void)state;

	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	assert_int_equal(jg_web_trace_spans(&h, t, 0), 0);
	assert_int_equal(jg_web_trace_analysis(&h, t), 0);
	assert_null(strstr(h.buf, "SECRET")); /* other services' messages and attributes */
	assert_non_null(strstr(h.buf, "checkout failed")); /* the covered service's */
	assert_non_null(strstr(h.buf, "<dt>db.statement</dt><dd>SELECT 1</dd>"));
	assert_int_equal(count(h.buf, "<rect class=\"bar\""), 7);
	/* tree order: p1 f1 c1 l0 l1 d1, then the fragment n1; the cause is d1, row 5 */
	assert_non_null(strstr(h.buf, "<g class=\"span pal-4 error root-cause\" data-row=\"5\">"));
	assert_non_null(strstr(h.buf, "<g class=\"span pal-5\" data-row=\"6\">"));
	assert_non_null(strstr(h.buf, "7 spans over 1.42"));
	/* as recorded, f1 starts 15 ms before p1: the axis starts at f1 */
	const double scale = (WF_X1 - WF_X0) / 1425.5;
	assert_near(attr(nth(h.buf, "<rect class=\"bar\"", 0), "x"), WF_X0 + 15 * scale);
	assert_near(attr(nth(h.buf, "<rect class=\"bar\"", 1), "x"), WF_X0);
	assert_non_null(strstr(h.buf, "<a href=\"#span-5\">INSERT ledger_entries</a> on <strong>"
				      "postgres 15.4</strong> (pg-primary) failed with error code "
				      "<code>57014</code>; its message is <span "
				      "class=\"withheld\">withheld</span>"));
	assert_non_null(strstr(h.buf, "It explains 4 failed spans and surfaced at POST "
				      "/v1/payments (payment-service)."));
	assert_non_null(strstr(h.buf, "ledger runs 2 versions in this trace: <strong>3.3.2"));
	assert_non_null(strstr(h.buf, "The clock of fraud-service (fraud-1) appears about 15 ms "
				      "behind"));
	assert_non_null(strstr(h.buf, "send receipt (notifier) names a parent span e5 that is not "
				      "in the trace"));
	assert_non_null(strstr(h.buf, "e5 (not in the trace)"));
	json_decref(t);
	jg_html_free(&h);

	/* adjusted: f1 is moved inside p1, and the words say the times are shifted */
	t = analysed_story(true);
	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	assert_int_equal(jg_web_trace_analysis(&h, t), 0);
	assert_near(attr(nth(h.buf, "<rect class=\"bar\"", 0), "x"), WF_X0);
	assert_non_null(strstr(h.buf, "the times shown are shifted by +15 ms."));
	json_decref(t);
	jg_html_free(&h);
}

static void
test_trace_deeper_than_the_tree_is_drawn_whole(void **state)
{
	struct jg_html h = {0};
	json_t *spans = json_array(), *t = NULL;
	char why[256];
	(void)state;

	for (int i = 0; i < 300; i++) {
		char id[16], parent[16];
		snprintf(id, sizeof(id), "s%03d", i);
		snprintf(parent, sizeof(parent), "s%03d", i - 1);
		json_array_append_new(spans, raw(id, i ? parent : NULL, "payment-service", NULL,
						 "pay-1", "hop", i, 600 - i, "ok", NULL, NULL));
	}
	assert_int_equal(
	    jg_trace_analyze(spans, covers_payment_service, NULL, false, &t, why, sizeof(why)), 0);
	assert_int_equal(jg_web_waterfall(&h, t, 0), 0);
	assert_int_equal(count(h.buf, "<rect class=\"bar\""), 300);
	assert_int_equal(count(h.buf, " detached\""), 1); /* s256, placed after the roots */
	assert_int_equal(jg_web_trace_spans(&h, t, 0), 0);
	assert_non_null(strstr(h.buf, "s255 (nested too deep to draw beneath it)"));
	json_decref(spans);
	json_decref(t);
	jg_html_free(&h);
}

static void
test_trace_rows_stay_within_a_page(void **state)
{
	struct jg_html h = {0};
	json_t *t = wide_trace(40);
	json_t *attrs = json_object();
	char big[2001];
	(void)state;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 100; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		json_object_set_new(attrs, k, json_string(big));
	}
	size_t i;
	json_t *c;
	json_array_foreach(
	    json_object_get(json_array_get(json_object_get(t, "spans"), 0), "children"), i, c)
	    json_object_set(c, "attributes", attrs);
	json_decref(attrs);
	assert_int_equal(jg_web_trace_spans(&h, t, 0), 0); /* 40 x 100 x 2000 bytes would be 8 MB */
	assert_false(h.failed);
	assert_true(h.len < JG_WEB_SPAN_ROWS_BUDGET + 300000);
	assert_non_null(strstr(h.buf, "more spans are not listed"));
	json_decref(t);
	jg_html_free(&h);
}

/* ---- charts -------------------------------------------------------------------- */

/* 2025-11-24 16:00:00 UTC + i minutes, as the API writes it. */
static json_t *
pt(int minute, json_t *value)
{
	char ns[32];
	snprintf(ns, sizeof(ns), "%lld", T0 + (long long)minute * 60 * 1000 * MS);
	return json_pack("{s:o,s:s,s:s}", "value", value, "time", "(as the API writes it)",
			 "time_unix_nano", ns);
}

static json_t *
metric_reply(json_t *series)
{
	json_t *r = json_pack(
	    "{s:s,s:b,s:[{s:s,s:s,s:s,s:s,s:s,s:b,s:o}],s:s,s:i}", "service", "payment-service",
	    "redacted", 1, "metrics", "name", "payments.processed", "kind", "gauge", "unit",
	    "{payment}", "description", "Payments by outcome", "temporality", "cumulative",
	    "monotonic", 0, "series", series, "name", "payments.processed", "step_seconds", 60);
	assert_non_null(r);
	return r;
}

static json_t *
two_series(void)
{
	json_t *a = json_array(), *b = json_array();
	const double va[5] = {10, 40, 25, 100, 0}, vb[5] = {5, 5, 6, 7, 8};
	for (int i = 0; i < 5; i++) {
		json_array_append_new(a, pt(i, json_real(va[i])));
		json_array_append_new(b, pt(i, json_real(vb[i])));
	}
	return json_pack("[{s:{s:s,s:s},s:o},{s:{s:s,s:s},s:o}]", "attributes", "outcome",
			 "authorized", "service.instance.id", "pay-1", "points", a, "attributes",
			 "outcome", "failed", "service.instance.id", "pay-1", "points", b);
}

/* The coordinates of the n-th polyline: xs and ys, returns how many. */
static size_t
polyline(const char *out, size_t n, double *xs, double *ys, size_t max)
{
	const char *p = strstr(nth(out, "<polyline class=\"line\"", n), "points=\"") + 8;
	size_t k = 0;
	while (*p != '"' && k < max) {
		char *end;
		xs[k] = strtod(p, &end);
		assert_int_equal(*end, ',');
		ys[k] = strtod(end + 1, &end);
		k++;
		p = *end == ' ' ? end + 1 : end;
	}
	return k;
}

static void
test_chart_lines_run_forward_in_time_inside_the_plot(void **state)
{
	struct jg_html h = {0};
	json_t *r = metric_reply(two_series());
	double xs[16] = {0}, ys[16] = {0};
	(void)state;

	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_int_equal(count(h.buf, "<polyline"), 2);
	for (size_t s = 0; s < 2; s++) {
		assert_int_equal(polyline(h.buf, s, xs, ys, 16), 5);
		for (size_t i = 0; i < 5; i++) {
			assert_true(xs[i] >= CH_X0 && xs[i] <= CH_X1);
			assert_true(ys[i] >= CH_Y0 && ys[i] <= CH_Y1);
			if (i > 0)
				assert_true(xs[i] > xs[i - 1]);
			/* evenly spaced minutes, first at the left edge, last at the right */
			assert_near(xs[i], CH_X0 + (CH_X1 - CH_X0) * (double)i / 4);
		}
	}
	/* values 0..100: ticks every 20; a larger value is higher up (smaller y) */
	polyline(h.buf, 0, xs, ys, 16);
	assert_near(ys[3], CH_Y0);			   /* 100 at the top */
	assert_near(ys[4], CH_Y1);			   /* 0 at the bottom */
	assert_near(ys[1], CH_Y1 - 0.4 * (CH_Y1 - CH_Y0)); /* 40 */
	for (int v = 0; v <= 100; v += 20) {
		char want[32];
		snprintf(want, sizeof(want), ">%d</text>", v);
		assert_non_null(strstr(h.buf, want));
	}
	/* times: 16:00 to 16:04 UTC a minute apart, and the date */
	assert_non_null(strstr(h.buf, ">16:00</text>"));
	assert_non_null(strstr(h.buf, ">16:04</text>"));
	assert_int_equal(count(h.buf, "<text class=\"tick mid\""), 5);
	assert_non_null(strstr(h.buf, ">time (UTC), 2025-11-24</text>"));
	/* the unit without its braces, the series by what differs between them */
	assert_non_null(strstr(h.buf, "<text class=\"unit\""));
	assert_non_null(strstr(h.buf, ">payment</text>"));
	assert_non_null(strstr(h.buf, "<li class=\"pal-0\"><span class=\"swatch\"></span>"
				      "outcome=authorized</li>"));
	assert_non_null(strstr(h.buf, "<li class=\"pal-1\"><span class=\"swatch\"></span>"
				      "outcome=failed</li>"));
	/* a circle per point, its value on hover */
	assert_int_equal(count(h.buf, "<circle class=\"pt\""), 10);
	assert_non_null(strstr(h.buf, "<title>2025-11-24 16:03:00 UTC, outcome=authorized: 100 "
				      "payment</title>"));
	assert_non_null(strstr(h.buf, "<svg class=\"chart\" role=\"img\""));
	assert_non_null(strstr(h.buf, "aria-label=\"Line chart of payments.processed (payment), 2 "
				      "series, 2025-11-24 16:00:00 to 2025-11-24 16:04:00 UTC\""));
	assert_no_nan(h.buf);
	json_decref(r);
	jg_html_free(&h);
}

static void
test_chart_table_has_a_row_per_point(void **state)
{
	struct jg_html h = {0};
	json_t *series = two_series();
	(void)state;

	/* a point without a value breaks its line and is a row all the same */
	json_t *pts = json_object_get(json_array_get(series, 1), "points");
	json_object_set_new(json_array_get(pts, 2), "value", json_null());
	json_t *r = metric_reply(series);
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_int_equal(count(h.buf, "<tr><td>"), 10);
	assert_non_null(strstr(h.buf, "<summary>Table of the 10 points</summary>"));
	assert_non_null(strstr(h.buf, "<caption>Points of payments.processed (payment), by series "
				      "and time (UTC)</caption>"));
	assert_non_null(strstr(h.buf, "<th scope=\"col\">Value (payment)</th>"));
	assert_non_null(strstr(h.buf, "<tr><td>2025-11-24 16:03:00</td><td>outcome=authorized</td>"
				      "<td class=\"num\">100</td></tr>"));
	assert_non_null(strstr(h.buf, "<tr><td>2025-11-24 16:02:00</td><td>outcome=failed</td>"
				      "<td class=\"num\">no value</td></tr>"));
	assert_int_equal(count(h.buf, "<polyline"), 3); /* one line, and one broken in two */
	assert_int_equal(count(h.buf, "<circle class=\"pt\""), 9);
	json_decref(r);
	jg_html_free(&h);
}

static void
test_chart_flat_line_and_single_point(void **state)
{
	struct jg_html h = {0};
	double xs[8] = {0}, ys[8] = {0};
	(void)state;

	json_t *flat = json_pack("[{s:{s:s},s:[o,o,o]}]", "attributes", "k", "v", "points",
				 pt(0, json_real(5)), pt(1, json_real(5)), pt(2, json_real(5)));
	json_t *r = metric_reply(flat);
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_int_equal(polyline(h.buf, 0, xs, ys, 8), 3);
	for (size_t i = 0; i < 3; i++)
		assert_near(ys[i], (CH_Y0 + CH_Y1) / 2); /* constant: a flat line in the middle */
	assert_non_null(strstr(h.buf, ">5.0</text>"));	 /* a tick at the value */
	assert_no_nan(h.buf);
	json_decref(r);
	jg_html_free(&h);

	json_t *one = json_pack("[{s:{},s:[o]}]", "attributes", "points", pt(0, json_real(0)));
	r = metric_reply(one);
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_null(strstr(h.buf, "<polyline")); /* a line needs two points */
	assert_int_equal(count(h.buf, "<circle class=\"pt\""), 1);
	const char *c = strstr(h.buf, "<circle class=\"pt\"");
	assert_near(attr(c, "cx"), (CH_X0 + CH_X1) / 2);
	assert_near(attr(c, "cy"), (CH_Y0 + CH_Y1) / 2);
	assert_non_null(strstr(h.buf, "all points</li>"));
	assert_non_null(strstr(h.buf, ">16:00:00</text>"));
	assert_int_equal(count(h.buf, "<tr><td>"), 1);
	assert_no_nan(h.buf);
	json_decref(r);
	jg_html_free(&h);
}

static void
test_chart_huge_negative_and_missing_values(void **state)
{
	struct jg_html h = {0};
	double xs[8] = {0}, ys[8] = {0};
	(void)state;

	json_t *s = json_pack("[{s:{},s:[o,o,o,o]}]", "attributes", "points",
			      pt(0, json_real(-1e308)), pt(1, json_real(1.7e308)),
			      pt(2, json_integer(-5)), pt(3, json_real(-1e-300)));
	json_t *r = metric_reply(s);
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_int_equal(polyline(h.buf, 0, xs, ys, 8), 4);
	for (size_t i = 0; i < 4; i++)
		assert_true(ys[i] >= CH_Y0 && ys[i] <= CH_Y1 && xs[i] >= CH_X0 && xs[i] <= CH_X1);
	assert_near(ys[0], CH_Y1);
	assert_near(ys[1], CH_Y0);
	assert_non_null(strstr(h.buf, "<td class=\"num\">-1e+308</td>")); /* the table: as is */
	assert_non_null(strstr(h.buf, "<td class=\"num\">1.7e+308</td>"));
	assert_non_null(strstr(h.buf, "<td class=\"num\">-5</td>"));
	assert_no_nan(h.buf);
	json_decref(r);
	jg_html_free(&h);

	/* negative values only: the axis reaches below zero */
	s = json_pack("[{s:{},s:[o,o]}]", "attributes", "points", pt(0, json_real(-30)),
		      pt(60, json_real(-10)));
	r = metric_reply(s);
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_non_null(strstr(h.buf, ">-30</text>")); /* -30 to -10 on steps of 5 */
	assert_non_null(strstr(h.buf, ">-25</text>"));
	assert_non_null(strstr(h.buf, ">-10</text>"));
	assert_null(strstr(h.buf, ">0</text>"));
	assert_non_null(strstr(h.buf, ">16:00</text>")); /* an hour: minutes on the axis */
	assert_non_null(strstr(h.buf, ">17:00</text>"));
	json_decref(r);
	jg_html_free(&h);

	/* no series, and series whose points have no value */
	r = metric_reply(json_array());
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_non_null(strstr(h.buf, "No series in this range."));
	assert_null(strstr(h.buf, "<svg"));
	json_decref(r);
	jg_html_free(&h);
	s = json_pack("[{s:{},s:[o]},{s:{},s:[]}]", "attributes", "points", pt(0, json_null()),
		      "attributes", "points");
	r = metric_reply(s);
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_non_null(strstr(h.buf, "No point with a value in this range."));
	assert_null(strstr(h.buf, "<svg"));
	assert_int_equal(count(h.buf, "<tr><td>"), 1);
	json_decref(r);
	jg_html_free(&h);
}

static void
test_chart_histogram_mean_and_names_list(void **state)
{
	struct jg_html h = {0};
	(void)state;
	json_t *r = json_pack(
	    "{s:[{s:s,s:s,s:s,s:s,s:[{s:{},s:[{s:i,s:f,s:s},{s:i,s:n,s:s}]}]},{s:s,s:s}]}",
	    "metrics", "name", "http.server.duration", "kind", "histogram", "unit", "ms",
	    "description", "", "series", "attributes", "points", "count", 4, "sum", 100.0,
	    "time_unix_nano", "1764000000000000000", "count", 2, "sum", "time_unix_nano",
	    "1764000060000000000", "name", "payments.processed", "kind", "sum");
	assert_non_null(r);
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_int_equal(count(h.buf, "<figure class=\"chart\">"), 1); /* the names entry: none */
	assert_non_null(strstr(h.buf, "each point is the mean of its histogram (sum / count)"));
	assert_non_null(strstr(h.buf, "<td class=\"num\">25</td>"));
	assert_non_null(strstr(h.buf, "<td class=\"num\">no value</td>"));
	assert_int_equal(count(h.buf, "<circle class=\"pt\""), 1);
	json_decref(r);
	jg_html_free(&h);
	r = json_pack("{s:s}", "metrics", "x");
	assert_int_equal(jg_web_metric_charts(&h, r), JG_EINVAL);
	json_decref(r);
	jg_html_free(&h);
}

static void
test_chart_series_labels_are_text(void **state)
{
	struct jg_html h = {0};
	(void)state;
	json_t *s = json_pack("[{s:{s:s},s:[o,o]},{s:{s:s},s:[o]}]", "attributes", "outcome",
			      "<b onmouseover=\"x\">&</b>", "points", pt(0, json_real(1)),
			      pt(1, json_real(2)), "attributes", "outcome", "ok", "points",
			      pt(0, json_real(3)));
	json_t *r = metric_reply(s);
	json_t *m = json_array_get(json_object_get(r, "metrics"), 0);
	json_object_set_new(m, "name", json_string("<script>x</script>"));
	json_object_set_new(m, "unit", json_string("\"><svg onload=1>"));
	json_object_set_new(m, "description", json_string("</figcaption><i>"));
	assert_int_equal(jg_web_metric_charts(&h, r), 0);
	assert_null(strstr(h.buf, "<b "));
	assert_null(strstr(h.buf, "<script"));
	assert_null(strstr(h.buf, "<svg onload"));
	assert_null(strstr(h.buf, "<i>"));
	assert_non_null(strstr(h.buf, "outcome=&lt;b onmouseover=&quot;x&quot;&gt;&amp;&lt;/b&gt;"
				      "</li>"));
	assert_non_null(strstr(h.buf, "<td>outcome=&lt;b onmouseover=&quot;x&quot;&gt;&amp;"
				      "&lt;/b&gt;</td>"));
	assert_int_equal(count(h.buf, "<figcaption>"), 1);
	json_decref(r);
	jg_html_free(&h);
}

static void
test_nice_step(void **state)
{
	(void)state;
	assert_near(jg_web_nice_step(100, 5), 20);
	assert_near(jg_web_nice_step(1000, 6), 200);
	assert_near(jg_web_nice_step(7, 5), 2);
	assert_near(jg_web_nice_step(0.3, 5), 0.1);
	assert_near(jg_web_nice_step(0, 5), 1);
	assert_near(jg_web_nice_step(-3, 5), 1);
	double huge = jg_web_nice_step(2e300, 5) / 5e299;
	assert_true(huge > 1 - 1e-12 && huge < 1 + 1e-12);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_waterfall_bars_are_proportional_to_start_and_duration),
	    cmocka_unit_test(test_waterfall_children_follow_their_parent_indented),
	    cmocka_unit_test(test_waterfall_marks_errors_and_the_root_cause),
	    cmocka_unit_test(test_trace_analysis_in_words_and_withheld_message),
	    cmocka_unit_test(test_trace_text_is_never_markup),
	    cmocka_unit_test(test_waterfall_caps_the_spans_drawn),
	    cmocka_unit_test(test_waterfall_refuses_what_is_not_a_trace),
	    cmocka_unit_test(test_trace_as_the_api_returns_it),
	    cmocka_unit_test(test_trace_deeper_than_the_tree_is_drawn_whole),
	    cmocka_unit_test(test_trace_rows_stay_within_a_page),
	    cmocka_unit_test(test_chart_lines_run_forward_in_time_inside_the_plot),
	    cmocka_unit_test(test_chart_table_has_a_row_per_point),
	    cmocka_unit_test(test_chart_flat_line_and_single_point),
	    cmocka_unit_test(test_chart_huge_negative_and_missing_values),
	    cmocka_unit_test(test_chart_histogram_mean_and_names_list),
	    cmocka_unit_test(test_chart_series_labels_are_text),
	    cmocka_unit_test(test_nice_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
