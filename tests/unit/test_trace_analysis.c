/*
 * test_trace_analysis.c - the span tree and its analysis.
 *
 * Small hand-built traces, one per analysis, with the expected output
 * written out in full (json_pack) where it is short enough to read: the
 * seed's story (a payment failure whose cause is a database timeout three
 * hops down, right after a deploy, with version skew), nested and handled
 * failures, withholding for services the grant does not cover, clock skew
 * (propagation through instances, conflicting constraints, asynchronous
 * children, the root instance, the shifted tree), fragments, cycles, every
 * field missing or mistyped, duplicates, limits, determinism under any
 * input order, the input left untouched, every allocation failing in turn,
 * and 10,000-span traces (a chain 10,000 deep and a wide, failing, skewed
 * one).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/trace_analysis.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define T0    1764000000000000000LL /* 2025-11-24T16:00:00Z in ns */
#define MS(x) ((json_int_t)(x)*1000000)
#define AT(x) (T0 + MS(x))

/* ---- building traces ---- */

static json_t *
mkspan(const char *id, const char *parent, const char *svc, const char *ver, const char *inst,
       const char *name, long long start_ms, long long end_ms, const char *status, const char *err,
       const char *code)
{
	json_t *s =
	    json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:s, s:s, s:s, s:I, s:I, s:s, s:s?, s:s?,"
		      " s:{s:s, s:s}, s:[{s:s}]}",
		      "trace_id", TRACE, "span_id", id, "parent_span_id", parent, "service", svc,
		      "service_version", ver, "instance", inst, "name", name, "kind", "server",
		      "start_ns", (json_int_t)AT(start_ms), "end_ns", (json_int_t)AT(end_ms),
		      "status", status, "error", err, "error_code", code, "attributes", "span.id",
		      id, "user.email", "alice@example.com", "events", "name", "exception");

	assert_non_null(s);
	return s;
}

static void
add(json_t *spans, const char *id, const char *parent, const char *svc, const char *ver,
    const char *inst, const char *name, long long start_ms, long long end_ms, const char *status,
    const char *err, const char *code)
{
	assert_int_equal(json_array_append_new(spans, mkspan(id, parent, svc, ver, inst, name,
							     start_ms, end_ms, status, err, code)),
			 0);
}

/* A plain ok span on an instance named after its service. */
static void
add_ok(json_t *spans, const char *id, const char *parent, const char *svc, long long start_ms,
       long long end_ms)
{
	add(spans, id, parent, svc, "1.0.0", svc, "op", start_ms, end_ms, "ok", NULL, NULL);
}

static void
add_err(json_t *spans, const char *id, const char *parent, const char *svc, long long start_ms,
	long long end_ms)
{
	add(spans, id, parent, svc, "1.0.0", svc, "op", start_ms, end_ms, "error", "failed", "E1");
}

/* ---- coverage callbacks ---- */

static bool
cover_all(const char *service, void *ctx)
{
	(void)service;
	(void)ctx;
	return true;
}

struct cover_one {
	const char *service; /* the only one covered */
	int calls;
	char seen[16][64]; /* services asked about, in order */
};

static bool
cover_one(const char *service, void *ctx)
{
	struct cover_one *c = ctx;

	if (c->calls < 16)
		snprintf(c->seen[c->calls], sizeof(c->seen[0]), "%s", service);
	c->calls++;
	return strcmp(service, c->service) == 0;
}

/* ---- reading results ---- */

static json_t *
analyze(json_t *spans, bool adjust)
{
	json_t *out = (json_t *)1;
	char why[256] = "unset";
	int rc = jg_trace_analyze(spans, cover_all, NULL, adjust, &out, why, sizeof(why));

	if (rc != 0)
		print_error("jg_trace_analyze: %d %s\n", rc, why);
	assert_int_equal(rc, 0);
	assert_non_null(out);
	return out;
}

static void
assert_json_equal(json_t *got, json_t *want)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_INDENT(1) | JSON_ENCODE_ANY);
		char *w = json_dumps(want, JSON_INDENT(1) | JSON_ENCODE_ANY);

		print_error("got:\n%s\nwant:\n%s\n", g ? g : "(null)", w ? w : "(null)");
		free(g);
		free(w);
		fail();
	}
}

static json_t *
analysis(json_t *out, const char *key)
{
	json_t *v = json_object_get(json_object_get(out, "analysis"), key);

	assert_non_null(v);
	return v;
}

/* The span object with this id anywhere in the tree (explicit stack: trees may be deep). */
static json_t *
find(json_t *out, const char *id)
{
	/* each span is pushed once, and there are at most JG_TRACE_MAX_SPANS */
	json_t **stack = malloc(JG_TRACE_MAX_SPANS * sizeof(*stack)), *found = NULL;
	json_t *roots = json_object_get(out, "spans");
	size_t top = 0, i;

	assert_non_null(stack);
	for (i = 0; i < json_array_size(roots); i++)
		stack[top++] = json_array_get(roots, i);
	while (top > 0 && found == NULL) {
		json_t *s = stack[--top], *kids = json_object_get(s, "children");

		if (strcmp(json_string_value(json_object_get(s, "span_id")), id) == 0)
			found = s;
		for (i = 0; i < json_array_size(kids); i++)
			stack[top++] = json_array_get(kids, i);
	}
	free(stack);
	assert_non_null(found);
	return found;
}

/* The span_ids of an array of span objects, as one string "a,b,c". */
static void
ids_of(json_t *arr, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *s = json_array_get(arr, i);
		const char *id =
		    json_string_value(json_is_string(s) ? s : json_object_get(s, "span_id"));

		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "", id);
		assert_true(n < len);
	}
}

static void
assert_ids(json_t *arr, const char *want)
{
	char buf[512];

	ids_of(arr, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
assert_children(json_t *out, const char *id, const char *want)
{
	assert_ids(json_object_get(find(out, id), "children"), want);
}

static json_int_t
int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* The clock_skew entry of an instance, or NULL. */
static json_t *
skew_of(json_t *out, const char *instance)
{
	json_t *list = analysis(out, "clock_skew"), *e;
	size_t i;

	json_array_foreach(list, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "instance")), instance) == 0)
			return e;
	}
	return NULL;
}

/* ---- the seed's story ---- */

/*
 * payment-service fails a payment because checkout failed because the
 * ledger failed because its INSERT hit the statement timeout on postgres.
 * The ledger was just deployed: ledger-2 runs 3.4.0, ledger-1 still 3.3.2.
 */
static json_t *
story(void)
{
	json_t *s = json_array();

	add(s, "p1", NULL, "payment-service", "2.1.0", "pay-7f9c", "POST /v1/payments", 0, 1300,
	    "error", "checkout failed", "502");
	add(s, "f1", "p1", "fraud-service", "1.0.4", "fraud-1", "score", 10, 60, "ok", NULL, NULL);
	add(s, "c1", "p1", "checkout", "1.8.2", "checkout-1", "charge", 70, 1290, "error",
	    "ledger write failed", "500");
	add(s, "l0", "c1", "ledger", "3.3.2", "ledger-1", "ledger.balance", 80, 120, "ok", NULL,
	    NULL);
	add(s, "l1", "c1", "ledger", "3.4.0", "ledger-2", "ledger.record", 130, 1280, "error",
	    "database error", "500");
	add(s, "d1", "l1", "postgres", "15.4", "pg-primary", "INSERT ledger_entries", 140, 1140,
	    "error", "canceling statement due to statement timeout", "57014");
	return s;
}

static void
test_jg_trace_analyze_story(void **state)
{
	json_t *spans = story(), *out, *want;

	(void)state;
	out = analyze(spans, false);
	assert_string_equal(json_string_value(json_object_get(out, "trace_id")), TRACE);

	want =
	    json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:[s,s,s,s],"
		      " s:{s:s, s:s, s:s}}]",
		      "span_id", "d1", "service", "postgres", "instance", "pg-primary",
		      "service_version", "15.4", "operation", "INSERT ledger_entries", "error_code",
		      "57014", "error", "canceling statement due to statement timeout", "withheld",
		      0, "start_ns", (json_int_t)AT(140), "end_ns", (json_int_t)AT(1140),
		      "explains", "d1", "l1", "c1", "p1", "surfaced", "span_id", "p1", "service",
		      "payment-service", "operation", "POST /v1/payments");
	assert_json_equal(analysis(out, "root_causes"), want);
	json_decref(want);

	want = json_pack("[{s:s, s:[{s:s, s:i, s:[{s:s, s:i}]}, {s:s, s:i, s:[{s:s, s:i}]}]}]",
			 "service", "ledger", "versions", "version", "3.3.2", "spans", 1,
			 "instances", "instance", "ledger-1", "spans", 1, "version", "3.4.0",
			 "spans", 1, "instances", "instance", "ledger-2", "spans", 1);
	assert_json_equal(analysis(out, "version_skew"), want);
	json_decref(want);

	want = json_pack("[s,s,s,s]", "checkout", "ledger", "payment-service", "postgres");
	assert_json_equal(analysis(out, "affected_services"), want);
	json_decref(want);
	assert_int_equal(json_array_size(analysis(out, "clock_skew")), 0);
	assert_int_equal(json_array_size(analysis(out, "fragments")), 0);

	/* the tree: one root, children by start time */
	assert_ids(json_object_get(out, "spans"), "p1");
	assert_children(out, "p1", "f1,c1");
	assert_children(out, "c1", "l0,l1");
	assert_children(out, "l1", "d1");
	assert_children(out, "d1", "");
	json_decref(out);
	json_decref(spans);
}

/* Every field of a span object, as documented. */
static void
test_jg_trace_analyze_span_object(void **state)
{
	json_t *spans = story(), *out, *want, *d1;

	(void)state;
	out = analyze(spans, false);
	d1 = json_deep_copy(find(out, "d1"));
	want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:s, s:s, s:s,"
			 " s:{s:s, s:s}, s:[{s:s}], s:b, s:[]}",
			 "span_id", "d1", "parent_span_id", "l1", "service", "postgres",
			 "service_version", "15.4", "instance", "pg-primary", "name",
			 "INSERT ledger_entries", "kind", "server", "start_ns", (json_int_t)AT(140),
			 "end_ns", (json_int_t)AT(1140), "duration_ms", 1000.0, "status", "error",
			 "error_code", "57014", "error",
			 "canceling statement due to statement timeout", "attributes", "span.id",
			 "d1", "user.email", "alice@example.com", "events", "name", "exception",
			 "withheld", 0, "children");
	assert_json_equal(d1, want);
	json_decref(want);
	json_decref(d1);
	/* the root keeps its null parent */
	assert_true(json_is_null(json_object_get(find(out, "p1"), "parent_span_id")));
	json_decref(out);
	json_decref(spans);
}

/* ---- root causes ---- */

static void
test_jg_trace_analyze_root_causes_nested(void **state)
{
	json_t *spans = json_array(), *out, *rc;

	(void)state;
	/*
	 * r ok
	 *   a error
	 *     b error (ends 50)
	 *       b1 ok
	 *     c error (ends 40: ended first, so it explains a)
	 *       c1 error   <- deepest failure under c: the cause of c and a
	 *   h error under an ok parent (handled failure: its own cause)
	 *     x ok
	 * f: a failed span whose failed child is only a sibling's: z error, child y error
	 */
	add_ok(spans, "r", NULL, "gw", 0, 100);
	add_err(spans, "a", "r", "svc-a", 10, 60);
	add_err(spans, "b", "a", "svc-b", 11, 50);
	add_ok(spans, "b1", "b", "svc-b", 12, 13);
	add_err(spans, "c", "a", "svc-c", 15, 40);
	add_err(spans, "c1", "c", "svc-c", 16, 39);
	add_err(spans, "h", "r", "svc-h", 70, 80);
	add_ok(spans, "x", "h", "svc-x", 71, 72);
	out = analyze(spans, false);
	rc = analysis(out, "root_causes");
	/* sorted by start: b (11), c1 (16), h (70) */
	assert_ids(rc, "b,c1,h");
	assert_ids(json_object_get(json_array_get(rc, 0), "explains"), "b");
	assert_ids(json_object_get(json_array_get(rc, 1), "explains"), "c1,c,a");
	assert_ids(json_object_get(json_array_get(rc, 2), "explains"), "h");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(rc, 0), "surfaced"), "span_id")),
			    "b");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(rc, 1), "surfaced"), "span_id")),
			    "a");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(rc, 1), "surfaced"), "service")),
			    "svc-a");
	json_t *want = json_pack("[s,s,s,s]", "svc-a", "svc-b", "svc-c", "svc-h");
	assert_json_equal(analysis(out, "affected_services"), want);
	json_decref(want);
	json_decref(out);
	json_decref(spans);
}

/* Ties on the end time go to the smallest span_id; a failed root alone is its own cause. */
static void
test_jg_trace_analyze_root_causes_ties(void **state)
{
	json_t *spans = json_array(), *out, *rc;

	(void)state;
	add_err(spans, "r", NULL, "gw", 0, 100);
	add_err(spans, "k2", "r", "a", 10, 50);
	add_err(spans, "k1", "r", "b", 20, 50);
	out = analyze(spans, false);
	rc = analysis(out, "root_causes");
	assert_ids(rc, "k2,k1");
	assert_ids(json_object_get(json_array_get(rc, 0), "explains"), "k2");
	assert_ids(json_object_get(json_array_get(rc, 1), "explains"), "k1,r");
	json_decref(out);
	json_decref(spans);

	spans = json_array();
	add_err(spans, "only", NULL, "gw", 0, 100);
	add_ok(spans, "kid", "only", "gw", 1, 2);
	out = analyze(spans, false);
	rc = analysis(out, "root_causes");
	assert_ids(rc, "only");
	assert_ids(json_object_get(json_array_get(rc, 0), "explains"), "only");
	json_decref(out);
	json_decref(spans);

	/* no failure: nothing to report */
	spans = json_array();
	add_ok(spans, "r", NULL, "gw", 0, 100);
	add(spans, "u", "r", "gw", NULL, "gw", "op", 1, 2, "unset", NULL, NULL);
	out = analyze(spans, false);
	assert_int_equal(json_array_size(analysis(out, "root_causes")), 0);
	assert_int_equal(json_array_size(analysis(out, "affected_services")), 0);
	json_decref(out);
	json_decref(spans);
}

/* ---- withholding ---- */

static void
test_jg_trace_analyze_withholding(void **state)
{
	json_t *spans = story(), *out = NULL, *p1, *d1, *rc;
	struct cover_one c = {"payment-service", 0, {{0}}};
	char why[128];

	(void)state;
	assert_int_equal(jg_trace_analyze(spans, cover_one, &c, false, &out, why, sizeof(why)), 0);
	/* asked once per service, in byte order */
	assert_int_equal(c.calls, 5);
	assert_string_equal(c.seen[0], "checkout");
	assert_string_equal(c.seen[1], "fraud-service");
	assert_string_equal(c.seen[2], "ledger");
	assert_string_equal(c.seen[3], "payment-service");
	assert_string_equal(c.seen[4], "postgres");

	p1 = find(out, "p1");
	assert_false(json_is_true(json_object_get(p1, "withheld")));
	assert_string_equal(json_string_value(json_object_get(p1, "error")), "checkout failed");
	assert_true(json_is_object(json_object_get(p1, "attributes")));
	assert_true(json_is_array(json_object_get(p1, "events")));

	d1 = find(out, "d1");
	assert_true(json_is_true(json_object_get(d1, "withheld")));
	assert_null(json_object_get(d1, "error"));
	assert_null(json_object_get(d1, "attributes"));
	assert_null(json_object_get(d1, "events"));
	/* structure, timing, status and error code stay */
	assert_string_equal(json_string_value(json_object_get(d1, "service")), "postgres");
	assert_string_equal(json_string_value(json_object_get(d1, "name")),
			    "INSERT ledger_entries");
	assert_string_equal(json_string_value(json_object_get(d1, "kind")), "server");
	assert_string_equal(json_string_value(json_object_get(d1, "status")), "error");
	assert_string_equal(json_string_value(json_object_get(d1, "error_code")), "57014");
	assert_string_equal(json_string_value(json_object_get(d1, "parent_span_id")), "l1");
	assert_string_equal(json_string_value(json_object_get(d1, "service_version")), "15.4");
	assert_int_equal(int_of(d1, "start_ns"), AT(140));

	/* the analysis runs on the whole trace but withholds the message too */
	rc = json_array_get(analysis(out, "root_causes"), 0);
	assert_string_equal(json_string_value(json_object_get(rc, "span_id")), "d1");
	assert_true(json_is_true(json_object_get(rc, "withheld")));
	assert_null(json_object_get(rc, "error"));
	assert_string_equal(json_string_value(json_object_get(rc, "error_code")), "57014");
	assert_int_equal(json_array_size(analysis(out, "version_skew")), 1);
	json_decref(out);

	/* nothing covered: no message, attribute or event anywhere in the output */
	c.service = "nobody";
	assert_int_equal(jg_trace_analyze(spans, cover_one, &c, true, &out, why, sizeof(why)), 0);
	{
		char *text = json_dumps(out, JSON_COMPACT);

		assert_non_null(text);
		assert_null(strstr(text, "alice@example.com"));
		assert_null(strstr(text, "statement timeout"));
		assert_null(strstr(text, "exception"));
		assert_null(strstr(text, "\"attributes\""));
		assert_null(strstr(text, "\"error\":"));
		assert_non_null(strstr(text, "\"error_code\":\"57014\""));
		free(text);
	}
	json_decref(out);
	json_decref(spans);
}

/* ---- clock skew ---- */

/*
 * gw (root instance, 0..100)
 *   b1 on B: recorded 150..160, after its parent ended: B's clock is ahead;
 *      B needs offset in [0-150, 100-160] = [-150, -60] -> -60 (closest to 0)
 *     c1 on C: recorded 95..105; with B corrected its parent is 90..100, so
 *        C needs [90-95, 100-105] = [-5, -5] -> -5 (B's offset applied first)
 *   y on gw: 95..99 (after b1 is shifted to 90..100, b1 sorts before y)
 */
static json_t *
skew_trace(void)
{
	json_t *s = json_array();

	add(s, "gw1", NULL, "gw", "1", "gw-0", "GET /", 0, 100, "ok", NULL, NULL);
	add(s, "b1", "gw1", "b", "1", "b-0", "call", 150, 160, "ok", NULL, NULL);
	add(s, "c1", "b1", "c", "1", "c-0", "query", 95, 105, "ok", NULL, NULL);
	add(s, "y", "gw1", "gw", "1", "gw-0", "local", 95, 99, "ok", NULL, NULL);
	return s;
}

static void
test_jg_trace_analyze_clock_skew_propagates(void **state)
{
	json_t *spans = skew_trace(), *out, *b, *c, *want, *arts;

	(void)state;
	out = analyze(spans, false);
	assert_null(skew_of(out, "gw-0"));
	b = skew_of(out, "b-0");
	assert_non_null(b);
	want = json_pack("{s:s, s:s, s:I, s:f, s:b, s:[{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}]}",
			 "service", "b", "instance", "b-0", "offset_ns", (json_int_t)MS(-60),
			 "offset_ms", -60.0, "conflict", 0, "artefacts", "span_id", "b1",
			 "parent_span_id", "gw1", "parent_service", "gw", "parent_instance", "gw-0",
			 "before_ns", (json_int_t)0, "after_ns", (json_int_t)MS(60),
			 "adjusted_before_ns", (json_int_t)0, "adjusted_after_ns", (json_int_t)0);
	assert_json_equal(b, want);
	json_decref(want);
	/* c1 starts 55 ms before b1 as recorded, fits once B and C are corrected */
	c = skew_of(out, "c-0");
	assert_non_null(c);
	assert_int_equal(int_of(c, "offset_ns"), MS(-5));
	arts = json_object_get(c, "artefacts");
	assert_ids(arts, "c1");
	assert_int_equal(int_of(json_array_get(arts, 0), "before_ns"), MS(55));
	assert_int_equal(int_of(json_array_get(arts, 0), "after_ns"), 0);
	assert_int_equal(int_of(json_array_get(arts, 0), "adjusted_before_ns"), 0);
	assert_int_equal(int_of(json_array_get(arts, 0), "adjusted_after_ns"), 0);
	/* instances in tree order: b-0 (met at b1) before c-0 */
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(analysis(out, "clock_skew"), 0), "instance")),
			    "b-0");
	/* unshifted tree: recorded times, recorded order, no clock_offset_ns */
	assert_children(out, "gw1", "y,b1");
	assert_int_equal(int_of(find(out, "b1"), "start_ns"), AT(150));
	assert_null(json_object_get(find(out, "b1"), "clock_offset_ns"));
	json_decref(out);

	/* shifted tree: offsets applied, children re-sorted by the shifted start */
	out = analyze(spans, true);
	assert_children(out, "gw1", "b1,y");
	assert_int_equal(int_of(find(out, "b1"), "start_ns"), AT(90));
	assert_int_equal(int_of(find(out, "b1"), "end_ns"), AT(100));
	assert_int_equal(int_of(find(out, "b1"), "clock_offset_ns"), MS(-60));
	assert_int_equal(int_of(find(out, "c1"), "start_ns"), AT(90));
	assert_int_equal(int_of(find(out, "c1"), "clock_offset_ns"), MS(-5));
	assert_int_equal(int_of(find(out, "gw1"), "clock_offset_ns"), 0);
	assert_true(json_real_value(json_object_get(find(out, "b1"), "duration_ms")) == 10.0);
	/* the analysis is the same either way */
	{
		json_t *plain = analyze(spans, false);

		assert_json_equal(json_object_get(out, "analysis"),
				  json_object_get(plain, "analysis"));
		json_decref(plain);
	}
	json_decref(out);
	json_decref(spans);
}

static void
test_jg_trace_analyze_clock_skew_conflict(void **state)
{
	json_t *spans = json_array(), *out, *d, *e, *arts;

	(void)state;
	add(spans, "r", NULL, "gw", "1", "gw-0", "GET /", 0, 100, "ok", NULL, NULL);
	add(spans, "p1", "r", "gw", "1", "gw-0", "step1", 10, 50, "ok", NULL, NULL);
	add(spans, "p2", "r", "gw", "1", "gw-0", "step2", 60, 70, "ok", NULL, NULL);
	/* d1 needs [10-5, 50-15] = [5, 35]; d2 needs [60-70, 70-72] = [-10, -2] */
	add(spans, "d1", "p1", "d", "1", "d-0", "q1", 5, 15, "ok", NULL, NULL);
	add(spans, "d2", "p2", "d", "1", "d-0", "q2", 70, 72, "ok", NULL, NULL);
	/* an asynchronous child longer than its parent: no shift fits it, so none is made */
	add(spans, "e1", "p2", "e", "1", "e-0", "consume", 65, 200, "ok", NULL, NULL);
	/* a child outside its parent on the same clock: reported, never corrected */
	add(spans, "s1", "p1", "gw", "1", "gw-0", "late", 45, 55, "ok", NULL, NULL);
	/* d3 fits as recorded ([80-85, 90-89] = [-5, 1] changes neither L nor H)... */
	add(spans, "p3", "r", "gw", "1", "gw-0", "step3", 80, 90, "ok", NULL, NULL);
	add(spans, "d3", "p3", "d", "1", "d-0", "q3", 85, 89, "ok", NULL, NULL);
	out = analyze(spans, false);

	/* L = 5 > H = -2: the midpoint floor((5 + -2) / 2) ms = 1.5 ms */
	d = skew_of(out, "d-0");
	assert_non_null(d);
	assert_true(json_is_true(json_object_get(d, "conflict")));
	assert_int_equal(int_of(d, "offset_ns"), 1500000);
	arts = json_object_get(d, "artefacts");
	assert_ids(arts, "d1,d2,d3");
	assert_int_equal(int_of(json_array_get(arts, 0), "before_ns"), MS(5));
	assert_int_equal(int_of(json_array_get(arts, 0), "adjusted_before_ns"), 3500000);
	assert_int_equal(int_of(json_array_get(arts, 1), "after_ns"), MS(2));
	assert_int_equal(int_of(json_array_get(arts, 1), "adjusted_after_ns"), 3500000);
	/* ...but not once d-0 is shifted: listed with zeros as recorded */
	assert_int_equal(int_of(json_array_get(arts, 2), "before_ns"), 0);
	assert_int_equal(int_of(json_array_get(arts, 2), "after_ns"), 0);
	assert_int_equal(int_of(json_array_get(arts, 2), "adjusted_before_ns"), 0);
	assert_int_equal(int_of(json_array_get(arts, 2), "adjusted_after_ns"), 500000);

	e = skew_of(out, "e-0");
	assert_non_null(e);
	assert_int_equal(int_of(e, "offset_ns"), 0);
	assert_false(json_is_true(json_object_get(e, "conflict")));
	assert_int_equal(int_of(json_array_get(json_object_get(e, "artefacts"), 0), "after_ns"),
			 MS(130));
	assert_int_equal(
	    int_of(json_array_get(json_object_get(e, "artefacts"), 0), "adjusted_after_ns"),
	    MS(130));

	/* the root instance is never shifted, but its own artefact is listed */
	d = skew_of(out, "gw-0");
	assert_non_null(d);
	assert_int_equal(int_of(d, "offset_ns"), 0);
	assert_ids(json_object_get(d, "artefacts"), "s1");
	assert_int_equal(int_of(json_array_get(json_object_get(d, "artefacts"), 0), "after_ns"),
			 MS(5));
	assert_int_equal(
	    int_of(json_array_get(json_object_get(d, "artefacts"), 0), "adjusted_after_ns"), MS(5));
	/* tree order of instances: gw-0 (root), d-0 (met at d1), e-0 (met at e1) */
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(analysis(out, "clock_skew"), 0), "instance")),
			    "gw-0");
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(analysis(out, "clock_skew"), 1), "instance")),
			    "d-0");
	json_decref(out);
	json_decref(spans);
}

/* A conflict's midpoint is rounded down, also below zero. */
static void
test_jg_trace_analyze_clock_skew_rounding(void **state)
{
	json_t *spans = json_array(), *out;

	(void)state;
	add(spans, "r", NULL, "gw", "1", "gw-0", "GET /", 0, 100, "ok", NULL, NULL);
	add(spans, "p1", "r", "gw", "1", "gw-0", "step1", 10, 50, "ok", NULL, NULL);
	add(spans, "p2", "r", "gw", "1", "gw-0", "step2", 60, 70, "ok", NULL, NULL);
	/* L = 10 - 5 = 5 ms; H = 70 ms - (76 ms + 1 ns) = -6 ms - 1 ns */
	add(spans, "d1", "p1", "d", "1", "d-0", "q1", 5, 15, "ok", NULL, NULL);
	add(spans, "d2", "p2", "d", "1", "d-0", "q2", 72, 76, "ok", NULL, NULL);
	json_object_set_new(json_array_get(spans, 4), "end_ns", json_integer(AT(76) + 1));
	out = analyze(spans, false);
	/* floor((5,000,000 - 6,000,001) / 2) = floor(-500,000.5) */
	assert_int_equal(int_of(skew_of(out, "d-0"), "offset_ns"), -500001);
	assert_true(json_is_true(json_object_get(skew_of(out, "d-0"), "conflict")));
	json_decref(out);
	json_decref(spans);
}

/*
 * An instance with a root span keeps offset 0 even when its spans also sit
 * under another instance's spans; constraints from instances met later in
 * tree order are not used (they are checked afterwards).
 */
static void
test_jg_trace_analyze_clock_skew_root_instance(void **state)
{
	json_t *spans = json_array(), *out, *a, *b;

	(void)state;
	add(spans, "a1", NULL, "a", "1", "a-0", "GET /", 0, 100, "ok", NULL, NULL);
	add(spans, "b1", "a1", "b", "1", "b-0", "call", 10, 50, "ok", NULL, NULL);
	/* a callback into a's instance, recorded outside b1: a-0 is not shifted */
	add(spans, "a2", "b1", "a", "1", "a-0", "callback", 60, 70, "ok", NULL, NULL);
	out = analyze(spans, true);
	a = skew_of(out, "a-0");
	assert_non_null(a);
	assert_int_equal(int_of(a, "offset_ns"), 0);
	assert_ids(json_object_get(a, "artefacts"), "a2");
	assert_int_equal(int_of(json_array_get(json_object_get(a, "artefacts"), 0), "after_ns"),
			 MS(20));
	/* b-0 only had b1 under a1 (a fit): not listed */
	b = skew_of(out, "b-0");
	assert_null(b);
	json_decref(out);

	/* a second true root on another instance: that instance is not shifted either */
	add(spans, "z1", NULL, "z", "1", "z-0", "cron", 5, 6, "ok", NULL, NULL);
	add(spans, "z2", "b1", "z", "1", "z-0", "call", 60, 70, "ok", NULL, NULL);
	out = analyze(spans, false);
	assert_int_equal(int_of(skew_of(out, "z-0"), "offset_ns"), 0);
	assert_int_equal(
	    int_of(json_array_get(json_object_get(skew_of(out, "z-0"), "artefacts"), 0),
		   "after_ns"),
	    MS(20));
	assert_ids(json_object_get(out, "spans"), "a1,z1");
	json_decref(out);
	json_array_remove(spans, json_array_size(spans) - 1);
	json_array_remove(spans, json_array_size(spans) - 1);

	/* the same, without the root: b-0 fixes a-0's offset by a2 (tree order b-0, a-0) */
	json_array_remove(spans, 0);
	json_object_set_new(json_array_get(spans, 0), "parent_span_id", json_string("gone"));
	out = analyze(spans, true);
	a = skew_of(out, "a-0");
	assert_non_null(a);
	/* a2 60..70 under b1 10..50 needs [10-60, 50-70] = [-50, -20] -> -20 */
	assert_int_equal(int_of(a, "offset_ns"), MS(-20));
	assert_int_equal(int_of(find(out, "a2"), "end_ns"), AT(50));
	json_decref(out);
	json_decref(spans);
}

/* Smallest shift: forward when the child starts too early, zero when it fits. */
static void
test_jg_trace_analyze_clock_skew_forward(void **state)
{
	json_t *spans = json_array(), *out, *b;

	(void)state;
	add(spans, "r", NULL, "gw", "1", "gw-0", "GET /", 1000, 2000, "ok", NULL, NULL);
	/* [1000-900, 2000-1100] = [100, 900] -> 100 */
	add(spans, "b1", "r", "b", "1", "b-0", "call", 900, 1100, "ok", NULL, NULL);
	/* [1000-1500, 2000-1600] = [-500, 400]: already fits */
	add(spans, "c1", "r", "c", "1", "c-0", "call", 1500, 1600, "ok", NULL, NULL);
	out = analyze(spans, false);
	b = skew_of(out, "b-0");
	assert_non_null(b);
	assert_int_equal(int_of(b, "offset_ns"), MS(100));
	assert_true(json_real_value(json_object_get(b, "offset_ms")) == 100.0);
	assert_int_equal(int_of(json_array_get(json_object_get(b, "artefacts"), 0), "before_ns"),
			 MS(100));
	assert_null(skew_of(out, "c-0"));
	assert_int_equal(json_array_size(analysis(out, "clock_skew")), 1);
	json_decref(out);
	json_decref(spans);
}

/* ---- fragments and cycles ---- */

static void
test_jg_trace_analyze_fragments(void **state)
{
	json_t *spans = json_array(), *out, *want;

	(void)state;
	add_ok(spans, "r", NULL, "gw", 0, 100);
	add_ok(spans, "a", "r", "svc-a", 10, 20);
	/* the queue consumer lost the context: its parent never arrived */
	add(spans, "q1", "lost", "worker", "2.0", "worker-1", "consume", 30, 90, "error", "boom",
	    "E9");
	add_err(spans, "q2", "q1", "mailer", 40, 50);
	add_ok(spans, "q3", "q1", "worker", 60, 70);
	add_ok(spans, "z", "lost2", "svc-z", 5, 6); /* starts before r, still listed after it */
	out = analyze(spans, false);
	assert_ids(json_object_get(out, "spans"), "r,z,q1");
	assert_children(out, "q1", "q2,q3");
	want =
	    json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:s, s:s, s:s,"
		      " s:i}]",
		      "span_id", "z", "service", "svc-z", "instance", "svc-z", "operation", "op",
		      "parent_span_id", "lost2", "reason", "missing_parent", "spans", 1, "span_id",
		      "q1", "service", "worker", "instance", "worker-1", "operation", "consume",
		      "parent_span_id", "lost", "reason", "missing_parent", "spans", 3);
	assert_json_equal(analysis(out, "fragments"), want);
	json_decref(want);
	/* fragments are analysed like the rest */
	assert_ids(analysis(out, "root_causes"), "q2");
	assert_ids(json_object_get(json_array_get(analysis(out, "root_causes"), 0), "explains"),
		   "q2,q1");
	json_decref(out);
	json_decref(spans);
}

static void
test_jg_trace_analyze_cycles(void **state)
{
	json_t *spans = json_array(), *out, *frags;

	(void)state;
	add_ok(spans, "r", NULL, "gw", 0, 100);
	/* n2 -> n3 -> n1 -> n2: cut at n1, the smallest id; n4 hangs off n3 */
	add_ok(spans, "n2", "n1", "svc", 10, 20);
	add_ok(spans, "n3", "n2", "svc", 11, 19);
	add_ok(spans, "n1", "n3", "svc", 12, 18);
	add_ok(spans, "n4", "n3", "svc", 13, 14);
	/* a span that is its own parent */
	add_err(spans, "self", "self", "svc", 30, 40);
	/* first in the input, so the cycle is first met from outside it */
	assert_int_equal(
	    json_array_insert_new(
		spans, 0, mkspan("t0", "n2", "svc", "1", "svc", "op", 15, 16, "ok", NULL, NULL)),
	    0);
	out = analyze(spans, false);
	assert_ids(json_object_get(out, "spans"), "r,n1,self");
	assert_children(out, "n1", "n2");
	assert_children(out, "n2", "n3,t0");
	assert_children(out, "n3", "n4");
	frags = analysis(out, "fragments");
	assert_ids(frags, "n1,self");
	assert_string_equal(json_string_value(json_object_get(json_array_get(frags, 0), "reason")),
			    "cycle");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(frags, 0), "parent_span_id")), "n3");
	assert_int_equal(int_of(json_array_get(frags, 0), "spans"), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(frags, 1), "reason")),
			    "cycle");
	assert_int_equal(int_of(json_array_get(frags, 1), "spans"), 1);
	assert_ids(analysis(out, "root_causes"), "self");
	json_decref(out);
	json_decref(spans);

	/* a trace that is nothing but a cycle */
	spans = json_array();
	add_ok(spans, "b", "a", "svc", 0, 10);
	add_ok(spans, "a", "b", "svc", 0, 10);
	out = analyze(spans, true);
	assert_ids(json_object_get(out, "spans"), "a");
	assert_children(out, "a", "b");
	json_decref(out);
	json_decref(spans);
}

/* ---- version skew ---- */

static void
test_jg_trace_analyze_version_skew(void **state)
{
	json_t *spans = json_array(), *out, *want;

	(void)state;
	add(spans, "r", NULL, "gw", "1.0", "gw-0", "op", 0, 100, "ok", NULL, NULL);
	/* one service at two versions on three instances, one instance without a version */
	add(spans, "a1", "r", "api", "2.10.0", "api-1", "op", 1, 2, "ok", NULL, NULL);
	add(spans, "a2", "r", "api", "2.9.0", "api-2", "op", 3, 4, "ok", NULL, NULL);
	add(spans, "a3", "r", "api", "2.9.0", "api-3", "op", 5, 6, "ok", NULL, NULL);
	add(spans, "a4", "r", "api", "2.9.0", "api-2", "op", 7, 8, "ok", NULL, NULL);
	add(spans, "a5", "r", "api", NULL, "api-4", "op", 9, 10, "ok", NULL, NULL);
	/* one version and no version: not skew */
	add(spans, "b1", "r", "db", "15", "db-1", "op", 11, 12, "ok", NULL, NULL);
	add(spans, "b2", "r", "db", NULL, "db-2", "op", 13, 14, "ok", NULL, NULL);
	/* two instances at one version: not skew */
	add(spans, "g2", "r", "gw", "1.0", "gw-1", "op", 15, 16, "ok", NULL, NULL);
	out = analyze(spans, false);
	want = json_pack("[{s:s, s:[{s:s, s:i, s:[{s:s, s:i}]}, {s:s, s:i, s:[{s:s, s:i}, {s:s,"
			 " s:i}]}, {s:n, s:i, s:[{s:s, s:i}]}]}]",
			 "service", "api", "versions", "version", "2.10.0", "spans", 1, "instances",
			 "instance", "api-1", "spans", 1, "version", "2.9.0", "spans", 3,
			 "instances", "instance", "api-2", "spans", 2, "instance", "api-3", "spans",
			 1, "version", "spans", 1, "instances", "instance", "api-4", "spans", 1);
	assert_json_equal(analysis(out, "version_skew"), want);
	json_decref(want);
	json_decref(out);
	json_decref(spans);
}

/* ---- determinism, the input, sizes ---- */

static void
test_jg_trace_analyze_deterministic(void **state)
{
	json_t *spans = story(), *rev = json_array(), *a, *b;
	size_t i;

	(void)state;
	add(spans, "d2", "l1", "postgres", "15.4", "pg-primary", "SELECT 1", 140, 150, "ok", NULL,
	    NULL); /* same start as d1: ties by span_id */
	add(spans, "q", "missing", "q", NULL, "q", "op", 0, 1, "ok", NULL, NULL);
	for (i = json_array_size(spans); i-- > 0;)
		json_array_append(rev, json_array_get(spans, i));
	a = analyze(spans, true);
	b = analyze(rev, true);
	assert_json_equal(a, b);
	assert_children(a, "l1", "d1,d2");
	json_decref(a);
	json_decref(b);
	json_decref(rev);
	json_decref(spans);
}

static void
test_jg_trace_analyze_input_untouched(void **state)
{
	json_t *spans = skew_trace(), *out;
	char *before, *after;

	(void)state;
	add_err(spans, "f", "nowhere", "x", 1, 2);
	before = json_dumps(spans, JSON_COMPACT | JSON_SORT_KEYS);
	out = analyze(spans, true);
	/* the caller may redact the output in place: nothing is shared with the input */
	json_object_set_new(json_object_get(find(out, "b1"), "attributes"), "user.email",
			    json_string("[REDACTED:email]"));
	json_array_clear(json_object_get(find(out, "b1"), "events"));
	json_decref(out);
	after = json_dumps(spans, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(before, after);
	free(before);
	free(after);
	json_decref(spans);
}

static void
test_jg_trace_analyze_empty(void **state)
{
	json_t *spans = json_array(), *out, *want;

	(void)state;
	out = analyze(spans, true);
	want = json_pack("{s:n, s:[], s:{s:[], s:[], s:[], s:[], s:[]}}", "trace_id", "spans",
			 "analysis", "root_causes", "version_skew", "clock_skew", "fragments",
			 "affected_services");
	assert_json_equal(out, want);
	json_decref(want);
	json_decref(out);
	json_decref(spans);
}

/* ---- out of memory ---- */

static long alloc_count;  /* jansson allocations so far */
static long fail_at = -1; /* the one that fails; -1: none */

static void *
failing_malloc(size_t n)
{
	return alloc_count++ == fail_at ? NULL : malloc(n);
}

/*
 * Each jansson allocation of the call fails in turn, alone: every one of
 * them must end in JG_ENOMEM with *out NULL (a failure swallowed would
 * give 0 and a partial output); never a crash, and under ASan never a
 * leak.
 */
static void
test_jg_trace_analyze_out_of_memory(void **state)
{
	json_t *spans = story(), *out, *want;
	long n, total;
	int rc;

	(void)state;
	add(spans, "x", "gone", "q", NULL, "q", "op", 5, 1400, "ok", NULL, NULL);
	add(spans, "f2", "f1", "fraud-service", "1.0.4", "fraud-2", "late", 5, 70, "ok", NULL,
	    NULL);
	json_set_alloc_funcs(failing_malloc, free);
	alloc_count = 0;
	want = analyze(spans, true);
	total = alloc_count;
	for (n = 0; n < total; n++) {
		alloc_count = 0;
		fail_at = n;
		out = NULL;
		rc = jg_trace_analyze(spans, cover_all, NULL, true, &out, NULL, 0);
		fail_at = -1;
		if (rc != JG_ENOMEM)
			print_error("allocation %ld of %ld failed: rc %d\n", n, total, rc);
		assert_int_equal(rc, JG_ENOMEM);
		assert_null(out);
	}
	json_set_alloc_funcs(malloc, free);
	assert_true(total > 100);
	json_decref(want);
	json_decref(spans);
}

/* ---- malformed input ---- */

struct bad_case {
	const char *key;
	const char *value; /* JSON text; NULL = remove the key */
	const char *why;   /* expected in the reason */
};

static const struct bad_case bad_cases[] = {
    {"trace_id", NULL, "spans[1].trace_id: missing"},
    {"trace_id", "1", "spans[1].trace_id: must be a string"},
    {"trace_id", "\"\"", "spans[1].trace_id: must be non-empty"},
    {"trace_id", "\"other\"", "spans[1].trace_id: differs from spans[0]"},
    {"span_id", NULL, "spans[1].span_id: missing"},
    {"span_id", "null", "spans[1].span_id: must be a string"},
    {"span_id", "7", "spans[1].span_id: must be a string"},
    {"span_id", "\"\"", "spans[1].span_id: must be non-empty"},
    {"span_id", "\"a\\u0000b\"", "spans[1].span_id: must be non-empty, without NUL bytes"},
    {"parent_span_id", NULL, "spans[1].parent_span_id: missing"},
    {"parent_span_id", "[]", "spans[1].parent_span_id: must be a string or null"},
    {"parent_span_id", "\"\"", "spans[1].parent_span_id: must be non-empty"},
    {"service", NULL, "spans[1].service: missing"},
    {"service", "null", "spans[1].service: must be a string"},
    {"service", "\"\"", "spans[1].service: must be non-empty"},
    {"service_version", NULL, "spans[1].service_version: missing"},
    {"service_version", "2.1", "spans[1].service_version: must be a string or null"},
    {"instance", NULL, "spans[1].instance: missing"},
    {"instance", "{}", "spans[1].instance: must be a string"},
    {"name", NULL, "spans[1].name: missing"},
    {"name", "null", "spans[1].name: must be a string"},
    {"kind", NULL, "spans[1].kind: missing"},
    {"kind", "2", "spans[1].kind: must be a string"},
    {"start_ns", NULL, "spans[1].start_ns: missing"},
    {"start_ns", "\"1764000000000000000\"", "spans[1].start_ns: must be an integer"},
    {"start_ns", "1.5", "spans[1].start_ns: must be an integer"},
    {"start_ns", "-1", "spans[1].start_ns: out of range"},
    {"end_ns", NULL, "spans[1].end_ns: missing"},
    {"end_ns", "null", "spans[1].end_ns: must be an integer"},
    {"end_ns", "4611686018427387904", "spans[1].end_ns: out of range"},
    {"end_ns", "1", "spans[1]: end_ns is before start_ns"},
    {"status", NULL, "spans[1].status: missing"},
    {"status", "2", "spans[1].status: must be a string"},
    {"status", "\"ERROR\"", "spans[1].status: must be \"ok\", \"error\" or \"unset\""},
    {"error", NULL, "spans[1].error: missing"},
    {"error", "false", "spans[1].error: must be a string or null"},
    {"error_code", NULL, "spans[1].error_code: missing"},
    {"error_code", "500", "spans[1].error_code: must be a string or null"},
    {"attributes", NULL, "spans[1].attributes: missing"},
    {"attributes", "[]", "spans[1].attributes: must be an object"},
    {"attributes", "null", "spans[1].attributes: must be an object"},
    {"events", NULL, "spans[1].events: missing"},
    {"events", "{}", "spans[1].events: must be an array"},
};

static void
expect_einval(json_t *spans, const char *want_why)
{
	json_t *out = (json_t *)1;
	char why[256] = "";
	int rc = jg_trace_analyze(spans, cover_all, NULL, false, &out, why, sizeof(why));

	if (rc != JG_EINVAL || strstr(why, want_why) == NULL)
		print_error("rc %d why \"%s\", want \"%s\"\n", rc, why, want_why);
	assert_int_equal(rc, JG_EINVAL);
	assert_null(out);
	assert_non_null(strstr(why, want_why));
}

static void
test_jg_trace_analyze_malformed_fields(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		json_t *spans = story(), *s = json_array_get(spans, 1);

		if (c->value == NULL) {
			assert_int_equal(json_object_del(s, c->key), 0);
		} else {
			json_t *v = json_loads(c->value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

			assert_non_null(v);
			assert_int_equal(json_object_set_new(s, c->key, v), 0);
		}
		expect_einval(spans, c->why);
		json_decref(spans);
	}
}

static void
test_jg_trace_analyze_malformed_shape(void **state)
{
	json_t *spans, *out = (json_t *)1;
	char why[128] = "";

	(void)state;
	spans = json_object();
	expect_einval(spans, "spans: must be an array");
	json_decref(spans);

	spans = story();
	json_array_set_new(spans, 2, json_string("span"));
	expect_einval(spans, "spans[2]: must be an object");
	json_decref(spans);

	spans = story();
	json_array_append_new(spans, json_deep_copy(json_array_get(spans, 4)));
	expect_einval(spans, "spans[4] and spans[6]: same span_id");
	json_decref(spans);

	/* no coverage callback, no output: refused, never assumed */
	spans = story();
	assert_int_equal(jg_trace_analyze(spans, NULL, NULL, false, &out, why, sizeof(why)),
			 JG_EINVAL);
	assert_null(out);
	assert_int_equal(jg_trace_analyze(spans, cover_all, NULL, false, NULL, why, sizeof(why)),
			 JG_EINVAL);
	/* why may be absent or tiny */
	json_array_set_new(spans, 0, json_null());
	assert_int_equal(jg_trace_analyze(spans, cover_all, NULL, false, &out, NULL, 0), JG_EINVAL);
	assert_int_equal(jg_trace_analyze(spans, cover_all, NULL, false, &out, why, 4), JG_EINVAL);
	assert_string_equal(why, "spa");
	json_decref(spans);
}

static void
test_jg_trace_analyze_too_big(void **state)
{
	json_t *spans = json_array(), *out = (json_t *)1;
	char why[128] = "";
	size_t i;

	(void)state;
	for (i = 0; i < JG_TRACE_MAX_SPANS + 1; i++)
		assert_int_equal(json_array_append_new(spans, json_null()), 0);
	assert_int_equal(jg_trace_analyze(spans, cover_all, NULL, false, &out, why, sizeof(why)),
			 JG_ETOOBIG);
	assert_null(out);
	assert_non_null(strstr(why, "more than 10000"));
	json_decref(spans);
}

/* ---- 10,000 spans ---- */

/* The deepest nesting of span objects in the tree (1 for a lone root). */
static size_t
max_nesting(json_t *out)
{
	json_t *roots = json_object_get(out, "spans");
	size_t top = 0, max = 0, i;
	struct item {
		json_t *s;
		size_t depth;
	} *stack = malloc(JG_TRACE_MAX_SPANS * sizeof(*stack));

	assert_non_null(stack);
	for (i = 0; i < json_array_size(roots); i++)
		stack[top++] = (struct item){json_array_get(roots, i), 1};
	while (top > 0) {
		struct item it = stack[--top];
		json_t *kids = json_object_get(it.s, "children");

		if (it.depth > max)
			max = it.depth;
		for (i = 0; i < json_array_size(kids); i++)
			stack[top++] = (struct item){json_array_get(kids, i), it.depth + 1};
	}
	free(stack);
	return max;
}

static void *
dump_and_free(void *arg)
{
	json_t *out = arg;
	char *text = json_dumps(out, JSON_COMPACT);
	bool ok = text != NULL && strlen(text) > 0;

	free(text);
	json_decref(out);
	return ok ? arg : NULL;
}

/*
 * json_dumps and json_decref recurse: with the depth cap they fit in 1 MiB
 * (a 10,000-deep tree needed more than 4 MiB without sanitizers).
 */
static int
dump_on_small_stack(json_t *out)
{
	pthread_attr_t attr;
	pthread_t th;
	void *ret = NULL;

	if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, 1024 * 1024) != 0 ||
	    pthread_create(&th, &attr, dump_and_free, out) != 0)
		return -1;
	pthread_attr_destroy(&attr);
	if (pthread_join(th, &ret) != 0)
		return -1;
	return ret == out ? 0 : -1;
}

/* A chain as deep as the cap, every span failed: one cause explaining all of them. */
static void
test_jg_trace_analyze_10000_deep(void **state)
{
	json_t *spans = json_array(), *out, *rc, *s, *roots;
	char id[16], parent[16];
	size_t i;

	(void)state;
	for (i = 0; i < JG_TRACE_MAX_SPANS; i++) {
		snprintf(id, sizeof(id), "s%05zu", i);
		snprintf(parent, sizeof(parent), "s%05zu", i - 1);
		/* every other hop on another instance whose clock is 2 ms ahead */
		add(spans, id, i ? parent : NULL, i % 2 ? "odd" : "even", "1", i % 2 ? "o" : "e",
		    "op", (long long)i + 2 * (long long)(i % 2),
		    30000 - (long long)i + 2 * (long long)(i % 2), "error", "e", "E");
	}
	out = analyze(spans, true);
	rc = analysis(out, "root_causes");
	assert_int_equal(json_array_size(rc), 1);
	s = json_array_get(rc, 0);
	assert_string_equal(json_string_value(json_object_get(s, "span_id")), "s09999");
	assert_int_equal(json_array_size(json_object_get(s, "explains")), JG_TRACE_MAX_SPANS);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(s, "surfaced"), "span_id")),
	    "s00000");
	/*
	 * An odd span i lasts i+2 .. 30002-i under i-1 .. 30001-i: the
	 * offsets that fit are [-3, -1], so the odd instance moves by -1 ms.
	 */
	assert_int_equal(int_of(skew_of(out, "o"), "offset_ns"), MS(-1));
	assert_int_equal(int_of(find(out, "s09999"), "end_ns"), AT(30000 - 9999 + 1));
	assert_int_equal(json_array_size(json_object_get(skew_of(out, "o"), "artefacts")), 5000);
	/* even spans start 1 ms before their odd parents as recorded, fit once o is shifted */
	assert_int_equal(int_of(skew_of(out, "e"), "offset_ns"), 0);
	assert_int_equal(json_array_size(json_object_get(skew_of(out, "e"), "artefacts")), 4999);
	assert_int_equal(
	    int_of(json_array_get(json_object_get(skew_of(out, "e"), "artefacts"), 0), "before_ns"),
	    MS(1));
	assert_int_equal(int_of(json_array_get(json_object_get(skew_of(out, "e"), "artefacts"), 0),
				"adjusted_before_ns"),
			 0);
	/* nesting is capped: every 256th span starts a new top-level entry */
	roots = json_object_get(out, "spans");
	assert_int_equal(json_array_size(roots), 40);
	assert_null(json_object_get(json_array_get(roots, 0), "detached"));
	for (i = 1; i < 40; i++) {
		json_t *d = json_array_get(roots, i);

		snprintf(id, sizeof(id), "s%05zu", i * JG_TRACE_MAX_DEPTH);
		snprintf(parent, sizeof(parent), "s%05zu", i * JG_TRACE_MAX_DEPTH - 1);
		assert_string_equal(json_string_value(json_object_get(d, "span_id")), id);
		assert_string_equal(json_string_value(json_object_get(d, "parent_span_id")),
				    parent);
		assert_true(json_is_true(json_object_get(d, "detached")));
	}
	assert_int_equal(max_nesting(out), JG_TRACE_MAX_DEPTH);
	assert_children(out, "s00255", "");
	/* the caller dumps and frees it, in a thread with a small stack */
	assert_int_equal(dump_on_small_stack(out), 0);
	json_decref(spans);
}

/* Wide and shallow: random parents, 100 services x 2 instances, failures, skew, fragments. */
static void
test_jg_trace_analyze_10000_wide(void **state)
{
	json_t *spans = json_array(), *out;
	char id[16], parent[16], svc[16], inst[24], ver[8];
	unsigned long x = 12345;
	size_t i;

	(void)state;
	add(spans, "s00000", NULL, "svc0", "1", "svc0-a", "root", 0, 100000, "error", "e", "E");
	for (i = 1; i < JG_TRACE_MAX_SPANS; i++) {
		size_t p;
		long long start;

		x = x * 6364136223846793005ul + 1442695040888963407ul;
		p = (size_t)((x >> 33) % i);
		start = (long long)(p * 5) + (long long)((x >> 20) % 7) - 2;
		snprintf(id, sizeof(id), "s%05zu", i);
		snprintf(parent, sizeof(parent), i % 997 == 0 ? "gone%05zu" : "s%05zu", p);
		snprintf(svc, sizeof(svc), "svc%zu", (size_t)((x >> 40) % 100));
		snprintf(inst, sizeof(inst), "%s-%c", svc, (x >> 50) % 2 ? 'a' : 'b');
		snprintf(ver, sizeof(ver), "%zu", (size_t)((x >> 45) % 2));
		add(spans, id, parent, svc, ver, inst, "op", start < 0 ? 0 : start,
		    (start < 0 ? 0 : start) + (long long)((x >> 10) % 50),
		    (x >> 30) % 5 ? "ok" : "error", "e", "E");
	}
	out = analyze(spans, true);
	assert_true(json_array_size(analysis(out, "root_causes")) > 0);
	assert_true(json_array_size(analysis(out, "version_skew")) > 0);
	assert_true(json_array_size(analysis(out, "clock_skew")) > 0);
	assert_int_equal(json_array_size(analysis(out, "fragments")), 10);
	assert_int_equal(json_array_size(json_object_get(out, "spans")), 11);
	json_decref(out);
	json_decref(spans);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jg_trace_analyze_story),
	    cmocka_unit_test(test_jg_trace_analyze_span_object),
	    cmocka_unit_test(test_jg_trace_analyze_root_causes_nested),
	    cmocka_unit_test(test_jg_trace_analyze_root_causes_ties),
	    cmocka_unit_test(test_jg_trace_analyze_withholding),
	    cmocka_unit_test(test_jg_trace_analyze_clock_skew_propagates),
	    cmocka_unit_test(test_jg_trace_analyze_clock_skew_conflict),
	    cmocka_unit_test(test_jg_trace_analyze_clock_skew_rounding),
	    cmocka_unit_test(test_jg_trace_analyze_clock_skew_root_instance),
	    cmocka_unit_test(test_jg_trace_analyze_clock_skew_forward),
	    cmocka_unit_test(test_jg_trace_analyze_fragments),
	    cmocka_unit_test(test_jg_trace_analyze_cycles),
	    cmocka_unit_test(test_jg_trace_analyze_version_skew),
	    cmocka_unit_test(test_jg_trace_analyze_deterministic),
	    cmocka_unit_test(test_jg_trace_analyze_input_untouched),
	    cmocka_unit_test(test_jg_trace_analyze_empty),
	    cmocka_unit_test(test_jg_trace_analyze_out_of_memory),
	    cmocka_unit_test(test_jg_trace_analyze_malformed_fields),
	    cmocka_unit_test(test_jg_trace_analyze_malformed_shape),
	    cmocka_unit_test(test_jg_trace_analyze_too_big),
	    cmocka_unit_test(test_jg_trace_analyze_10000_deep),
	    cmocka_unit_test(test_jg_trace_analyze_10000_wide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
