/*
 * test_probe_metric.c - jitgate's side of metric probes (probe_metric.h,
 * docs/agents.md "Probe kinds"): the spec deploy accepts, the points ingest
 * stores (every other event refused), and how stored points read as the
 * metric probe.<id>: in time order, delta totals per step window.  The
 * agent's aggregate is test_agent_capture.c's (test_metric_aggregate).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/probe_metric.h"
#include "jitgate/telemetry.h"

static json_t *
j(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);
	assert_non_null(v);
	return v;
}

static void
test_spec(void **state)
{
	(void)state;
	struct jg_probe_metric m;
	char why[300];
	json_t *s = j("{\"type\":\"histogram\",\"field\":\"req.amount\"}");

	assert_int_equal(jg_probe_metric_parse(s, &m, why, sizeof(why)), 0);
	json_decref(s);
	assert_true(m.histogram);
	assert_string_equal(m.field, "req.amount");
	assert_int_equal(m.interval_seconds, JG_PROBE_METRIC_INTERVAL);
	json_t *out = jg_probe_metric_json(&m);
	s = j("{\"type\":\"histogram\",\"field\":\"req.amount\",\"interval_seconds\":10}");
	assert_true(json_equal(out, s));
	json_decref(out);
	json_decref(s);

	s = j("{\"type\":\"count\",\"interval_seconds\":300}");
	assert_int_equal(jg_probe_metric_parse(s, &m, why, sizeof(why)), 0);
	json_decref(s);
	assert_false(m.histogram);
	assert_int_equal(m.interval_seconds, 300);

	const char *bad[] = {"null",
			     "{}",
			     "{\"type\":\"gauge\"}",
			     "{\"type\":\"histogram\"}",
			     "{\"type\":\"histogram\",\"field\":\"a b\"}",
			     "{\"type\":\"histogram\",\"field\":7}",
			     "{\"type\":\"count\",\"field\":\"a\"}",
			     "{\"type\":\"count\",\"interval_seconds\":0}",
			     "{\"type\":\"count\",\"interval_seconds\":301}",
			     "{\"type\":\"count\",\"interval_seconds\":1.5}",
			     "{\"type\":\"count\",\"buckets\":[1]}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		why[0] = '\0';
		assert_int_equal(jg_probe_metric_parse(s, &m, why, sizeof(why)), JG_EINVAL);
		assert_true(strlen(why) > 10); /* a sentence saying what is wrong */
		json_decref(s);
	}
}

#define COUNTS_OK "[0,3,0,0,0,0,0,0,0,0,0,0,0,0,0,1]"
#define EV_ID	  "\"event_id\":\"0123456789abcdef0123456789abcdef\",\"function\":\"F\","
#define HIST(extra)                                                                                \
	"{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID "\"metric\":"                                    \
	"{\"start\":\"2026-12-07T10:00:01Z\",\"count\":4,\"sum\":20009,\"min\":3,\"max\":20000,"   \
	"\"counts\":" COUNTS_OK extra "}}"

static void
test_points(void **state)
{
	(void)state;
	struct jg_probe_metric hist = {
	    .histogram = true, .field = "amount", .interval_seconds = 10};
	struct jg_probe_metric count = {.interval_seconds = 10};
	int64_t ns;

	json_t *ev = j(HIST(""));
	assert_true(jg_probe_metric_point_valid(ev, &hist, "F", &ns));
	assert_int_equal(ns, 1796637602LL * 1000000000LL);
	assert_false(jg_probe_metric_point_valid(ev, &count, "F", &ns)); /* a histogram's members */
	json_decref(ev);
	ev = j("{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	       "\"metric\":{\"start\":\"2026-12-07T10:00:02Z\","
	       "\"count\":1}}");
	assert_true(jg_probe_metric_point_valid(ev, &count, "F", &ns));
	assert_false(jg_probe_metric_point_valid(ev, &hist, "F", &ns));
	json_decref(ev);

	const char *bad[] = {
	    /* something of the call beside the point */
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"args\":{\"amount\":3},\"metric\":{\"start\":"
	    "\"2026-12-07T10:00:01Z\",\"count\":1}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID "\"message\":\"m\",\"metric\":{\"start\":"
	    "\"2026-12-07T10:00:01Z\",\"count\":1}}",
	    /* count 0, negative, fractional, past 2^53; start after ts; times that are not */
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":0}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":-1}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":1.5}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":9007199254740993}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:03Z\","
	    "\"count\":1}}",
	    "{\"ts\":\"yesterday\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\",\"count\":1}}",
	    "{" EV_ID "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\",\"count\":1}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID "\"metric\":{\"count\":1}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":1,\"value\":3}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID "\"metric\":[1]}",
	    "[]",
	    /* more than 2^32 calls in one point */
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID "\"metric\":{\"start\":"
	    "\"2026-12-07T10:00:01Z\",\"count\":4294967297}}",
	    /* the bookkeeping: an event id agents do not make, another function, one missing */
	    "{\"ts\":\"2026-12-07T10:00:02Z\",\"event_id\":\"E123456789abcdef0123456789abcdef\","
	    "\"function\":\"F\",\"metric\":{\"start\":\"2026-12-07T10:00:01Z\",\"count\":1}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\",\"event_id\":{\"email\":\"ann@example.com\"},"
	    "\"function\":\"F\",\"metric\":{\"start\":\"2026-12-07T10:00:01Z\",\"count\":1}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\",\"event_id\":\"0123456789abcdef0123456789abcdef\","
	    "\"function\":\"G\",\"metric\":{\"start\":\"2026-12-07T10:00:01Z\",\"count\":1}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\",\"event_id\":\"0123456789abcdef0123456789abcdef\","
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\",\"count\":1}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ev = j(bad[i]);
		assert_false(jg_probe_metric_point_valid(ev, &count, "F", &ns));
		json_decref(ev);
	}
	const char *bad_hist[] = {
	    /* counts that do not add up, one too few, a negative one; min above max */
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":5,\"sum\":1,\"min\":1,\"max\":1,\"counts\":" COUNTS_OK "}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":4,\"sum\":1,\"min\":1,\"max\":1,\"counts\":[0,3,0,0,0,0,0,0,0,0,0,0,0,0,1]}"
	    "}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":4,\"sum\":1,\"min\":1,\"max\":1,"
	    "\"counts\":[0,5,0,0,0,0,0,0,0,0,0,0,0,0,0,-1]}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":4,\"sum\":1,\"min\":5,\"max\":1,\"counts\":" COUNTS_OK "}}",
	    "{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID
	    "\"metric\":{\"start\":\"2026-12-07T10:00:01Z\","
	    "\"count\":4,\"sum\":\"1\",\"min\":1,\"max\":1,\"counts\":" COUNTS_OK "}}",
	};
	for (size_t i = 0; i < sizeof(bad_hist) / sizeof(bad_hist[0]); i++) {
		ev = j(bad_hist[i]);
		assert_false(jg_probe_metric_point_valid(ev, &hist, "F", &ns));
		json_decref(ev);
	}
}

/* A count point at second s (of 2026-12-07T10:00:00Z) of value n. */
static json_t *
count_at(int s, int n)
{
	char buf[256];
	snprintf(buf, sizeof(buf),
		 "{\"ts\":\"2026-12-07T10:00:%02dZ\"," EV_ID
		 "\"metric\":{\"start\":\"2026-12-07T10:00:00Z\","
		 "\"count\":%d}}",
		 s, n);
	return j(buf);
}

static void
test_series(void **state)
{
	(void)state;
	struct jg_probe_metric count = {.interval_seconds = 10};
	struct jg_probe_metric hist = {
	    .histogram = true, .field = "amount", .interval_seconds = 10};
	const int64_t t0 = 1796637600LL * 1000000000LL; /* 10:00:00 */
	json_t *events = json_pack("[o,o,o,o]", count_at(30, 4), count_at(10, 1), count_at(20, 2),
				   count_at(50, 8));
	json_t *out;

	/* in time order whatever the order stored; the window [since, until) */
	assert_int_equal(jg_probe_metric_series(&count, "probe.prb_x", "F", events, t0,
						t0 + 50 * 1000000000LL, 0, false, &out),
			 0);
	assert_int_equal(json_array_size(out), 1);
	json_t *m = json_array_get(out, 0);
	assert_string_equal(json_string_value(json_object_get(m, "name")), "probe.prb_x");
	assert_string_equal(json_string_value(json_object_get(m, "kind")), "sum");
	assert_string_equal(json_string_value(json_object_get(m, "temporality")), "delta");
	json_t *pts = json_object_get(json_array_get(json_object_get(m, "series"), 0), "points");
	assert_int_equal(json_array_size(pts), 3);
	double want[] = {1, 2, 4};
	for (size_t i = 0; i < 3; i++)
		assert_true(json_number_value(json_object_get(json_array_get(pts, i), "value")) ==
			    want[i]);
	assert_string_equal(json_string_value(json_object_get(json_array_get(pts, 0), "time")),
			    "2026-12-07T10:00:10.000000000Z");
	json_decref(out);

	/* a step of 30 s: the windows' totals */
	assert_int_equal(jg_probe_metric_series(&count, "probe.prb_x", "F", events, t0,
						t0 + 3600000000000LL, 30 * 1000000000LL, false,
						&out),
			 0);
	pts = json_object_get(json_array_get(json_object_get(json_array_get(out, 0), "series"), 0),
			      "points");
	assert_int_equal(json_array_size(pts), 2);
	assert_true(json_number_value(json_object_get(json_array_get(pts, 0), "value")) == 3);
	assert_true(json_number_value(json_object_get(json_array_get(pts, 1), "value")) == 12);
	json_decref(out);

	/* no point in the window: no metric */
	assert_int_equal(
	    jg_probe_metric_series(&count, "probe.prb_x", "F", events, 0, t0, 0, false, &out), 0);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);

	/* a stored event that is not a point of this probe: jitgate did not write it */
	assert_int_equal(
	    jg_probe_metric_series(&hist, "probe.prb_x", "F", events, 0, INT64_MAX, 0, false, &out),
	    JG_ESTORE);
	json_decref(events);

	/* histograms add up bucket by bucket, with min and max of both */
	events = json_pack("[o,o]", j(HIST("")), j(HIST("")));
	assert_int_equal(jg_probe_metric_series(&hist, "probe.prb_h", "F", events, 0, INT64_MAX,
						60 * 1000000000LL, false, &out),
			 0);
	json_t *p = json_array_get(
	    json_object_get(json_array_get(json_object_get(json_array_get(out, 0), "series"), 0),
			    "points"),
	    0);
	assert_int_equal(json_integer_value(json_object_get(p, "count")), 8);
	assert_true(json_number_value(json_object_get(p, "sum")) == 40018);
	json_t *buckets = json_object_get(p, "buckets");
	assert_int_equal(json_array_size(buckets), JG_PROBE_METRIC_BUCKETS);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(buckets, 1), "count")),
			 6);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(buckets, 15), "upper_bound")), "+Inf");
	json_decref(out);
	json_decref(events);
}

/* A histogram's min, max and sum that are card numbers, for a reader without read-pii. */
static void
test_card_values_redacted(void **state)
{
	(void)state;
	struct jg_probe_metric hist = {.histogram = true, .field = "ref", .interval_seconds = 10};
	json_t *events = json_pack(
	    "[o]", j("{\"ts\":\"2026-12-07T10:00:02Z\"," EV_ID "\"metric\":{\"start\":"
		     "\"2026-12-07T10:00:01Z\",\"count\":1,\"sum\":4111111111111111,\"min\":"
		     "4111111111111111,\"max\":4111111111111111,\"counts\":"
		     "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]}}"));
	json_t *out;

	for (int redact = 0; redact <= 1; redact++) {
		assert_int_equal(jg_probe_metric_series(&hist, "probe.prb_c", "F", events, 0,
							INT64_MAX, 0, redact, &out),
				 0);
		json_t *p = json_array_get(
		    json_object_get(
			json_array_get(json_object_get(json_array_get(out, 0), "series"), 0),
			"points"),
		    0);
		for (const char *const *k = (const char *const[]){"min", "max", "sum", NULL}; *k;
		     k++) {
			json_t *v = json_object_get(p, *k);
			if (redact)
				assert_string_equal(json_string_value(v), "[REDACTED:card]");
			else
				assert_true(json_number_value(v) == 4111111111111111.0);
		}
		assert_int_equal(json_integer_value(json_object_get(p, "count")), 1);
		json_decref(out);
	}
	json_decref(events);
}

/* Folding holds a total at 2^63 - 1 instead of wrapping, and a sum past the largest double is null.
 */
static void
test_fold_holds_totals(void **state)
{
	(void)state;
	json_t *h = json_pack("{s:I,s:f,s:f,s:f,s:[f],s:[I,I]}", "count", (json_int_t)(1LL << 62),
			      "sum", 1.7e308, "min", 1.0, "max", 2.0, "bounds", 1.5, "counts",
			      (json_int_t)(1LL << 62), (json_int_t)0);
	struct jg_telemetry_point pts[3] = {
	    {.time_ns = 10, .hist = h}, {.time_ns = 11, .hist = h}, {.time_ns = 12, .hist = h}};
	json_t *out = jg_telemetry_fold_delta(pts, 3, true, 1000);
	assert_non_null(out);
	assert_int_equal(json_array_size(out), 1);
	json_t *p = json_array_get(out, 0);
	assert_int_equal(json_integer_value(json_object_get(p, "count")), INT64_MAX);
	assert_true(json_is_null(json_object_get(p, "sum")));
	json_t *b0 = json_array_get(json_object_get(p, "buckets"), 0);
	assert_int_equal(json_integer_value(json_object_get(b0, "count")), INT64_MAX);
	json_decref(out);
	json_decref(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec),
	    cmocka_unit_test(test_points),
	    cmocka_unit_test(test_series),
	    cmocka_unit_test(test_card_values_redacted),
	    cmocka_unit_test(test_fold_holds_totals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
