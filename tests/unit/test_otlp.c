/*
 * test_otlp.c - the OTLP/HTTP JSON and JSON Lines mapping (otlp.h).
 *
 * Documents written by hand after the OpenTelemetry protobuf JSON mapping:
 * hex ids (any case), 64-bit integers as strings or numbers, enums as names
 * or numbers, snake_case field names, every AnyValue kind.  Each converter
 * is checked field for field, and each kind of malformed record for the
 * index and path it is refused with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/error.h"
#include "jitgate/otlp.h"

#define NOW 1795600800000000000LL

/* Appends s to the string in buf (cap bytes); fails the test if it does not fit. */
static void
append(char *buf, size_t cap, const char *s)
{
	size_t n = strlen(buf), k = strlen(s);
	assert_true(n + k < cap);
	memcpy(buf + n, s, k + 1);
}

static json_t *
parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (v == NULL)
		fail_msg("test JSON does not parse: %s (line %d)", e.text, e.line);
	return v;
}

/* Compares a value with expected JSON text (key order ignored). */
static void
assert_json(json_t *got, const char *want_text)
{
	json_t *want = parse(want_text);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);
		fail_msg("got %s\nwant %s", g, want_text);
	}
	json_decref(want);
}

static void
test_otlp_any_value_kinds(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"{\"stringValue\":\"x\"}", "\"x\""},
	    {"{\"boolValue\":false}", "false"},
	    {"{\"intValue\":\"-9223372036854775808\"}", "-9223372036854775808"},
	    {"{\"intValue\":42}", "42"},
	    {"{\"int_value\":\"7\"}", "7"},
	    {"{\"doubleValue\":0.5}", "0.5"},
	    {"{\"doubleValue\":\"NaN\"}", "\"NaN\""},
	    {"{\"doubleValue\":\"-Infinity\"}", "\"-Infinity\""},
	    {"{\"doubleValue\":3}", "3.0"},
	    {"{\"bytesValue\":\"AQID\"}", "\"AQID\""},
	    {"{\"arrayValue\":{\"values\":[{\"intValue\":\"1\"},{\"stringValue\":\"a\"},{}]}}",
	     "[1,\"a\",null]"},
	    {"{\"arrayValue\":{}}", "[]"},
	    {"{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":{\"kvlistValue\":{\"values\":"
	     "[{\"key\":\"b\",\"value\":{\"boolValue\":true}}]}}}]}}",
	     "{\"a\":{\"b\":true}}"},
	    {"{}", "null"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *in = parse(cases[i].in), *out = NULL;
		char why[200];
		assert_int_equal(jg_otlp_any_value(in, &out, why, sizeof(why)), 0);
		assert_json(out, cases[i].want);
		json_decref(out);
		json_decref(in);
	}
}

static void
test_otlp_any_value_refused(void **state)
{
	static const char *const bad[] = {
	    "\"plain\"",
	    "{\"intValue\":\"12x\"}",
	    "{\"intValue\":\"99999999999999999999\"}",
	    "{\"intValue\":1.5}",
	    "{\"boolValue\":\"true\"}",
	    "{\"doubleValue\":\"fast\"}",
	    "{\"stringValue\":5}",
	    "{\"arrayValue\":{\"values\":{}}}",
	    "{\"kvlistValue\":{\"values\":[{\"value\":{}}]}}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *in = parse(bad[i]), *out = NULL;
		char why[200] = "";
		if (jg_otlp_any_value(in, &out, why, sizeof(why)) != JG_EINVAL)
			fail_msg("accepted %s", bad[i]);
		assert_null(out);
		assert_true(why[0] != '\0');
		json_decref(in);
	}
	/* nesting past the cap */
	char deep[2048] = "";
	for (int i = 0; i < JG_OTLP_MAX_DEPTH + 2; i++)
		append(deep, sizeof(deep), "{\"arrayValue\":{\"values\":[");
	append(deep, sizeof(deep), "{}");
	for (int i = 0; i < JG_OTLP_MAX_DEPTH + 2; i++)
		append(deep, sizeof(deep), "]}}");
	json_t *in = parse(deep), *out = NULL;
	char why[200];
	assert_int_equal(jg_otlp_any_value(in, &out, why, sizeof(why)), JG_EINVAL);
	assert_non_null(strstr(why, "deeper"));
	json_decref(in);
}

static const char logs_doc[] =
    "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
    "\"stringValue\":\"pay\"}},{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h1\"}}]},"
    "\"scopeLogs\":[{\"scope\":{\"name\":\"lib\",\"version\":\"2\"},\"logRecords\":["
    "{\"timeUnixNano\":\"1795600801000000000\",\"observedTimeUnixNano\":1795600801000000005,"
    "\"severityNumber\":\"SEVERITY_NUMBER_ERROR2\",\"severityText\":\"E\",\"body\":{"
    "\"stringValue\":\"boom\"},\"attributes\":[{\"key\":\"n\",\"value\":{\"intValue\":\"3\"}}],"
    "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\"},"
    "{\"observed_time_unix_nano\":\"1795600802000000000\",\"severity_text\":\"warning\","
    "\"trace_id\":\"\",\"span_id\":\"\"},"
    "{\"severityNumber\":9,\"unknownField\":{\"ignored\":true}}]}]}]}";

static void
test_otlp_logs_fields(void **state)
{
	json_t *doc = parse(logs_doc), *out = NULL;
	struct jg_otlp_error e;
	(void)state;

	assert_int_equal(jg_otlp_logs(doc, "pay", NOW, &out, &e), 0);
	assert_int_equal(json_array_size(out), 3);
	assert_json(json_array_get(out, 0),
		    "{\"time_ns\":1795600801000000000,\"observed_ns\":1795600801000000005,"
		    "\"severity_number\":18,\"severity_text\":\"E\",\"level\":\"error\","
		    "\"body\":\"boom\",\"attributes\":{\"n\":3},\"resource\":{\"service.name\":"
		    "\"pay\",\"host.name\":\"h1\"},\"scope\":{\"name\":\"lib\",\"version\":\"2\"},"
		    "\"trace_id\":\"5b8efff798038103d269b633813fc60c\",\"span_id\":"
		    "\"eee19b7ec3c1b174\"}");
	/* no time: the observed time; no severity number: the text; empty ids: none */
	json_t *r1 = json_array_get(out, 1);
	assert_int_equal(json_integer_value(json_object_get(r1, "time_ns")), 1795600802000000000LL);
	assert_string_equal(json_string_value(json_object_get(r1, "level")), "warn");
	assert_int_equal(json_integer_value(json_object_get(r1, "severity_number")), 13);
	assert_true(json_is_null(json_object_get(r1, "trace_id")));
	/* no time at all: now */
	json_t *r2 = json_array_get(out, 2);
	assert_int_equal(json_integer_value(json_object_get(r2, "time_ns")), NOW);
	assert_int_equal(json_integer_value(json_object_get(r2, "observed_ns")), NOW);
	assert_string_equal(json_string_value(json_object_get(r2, "level")), "info");
	assert_true(json_is_null(json_object_get(r2, "body")));
	json_decref(out);
	json_decref(doc);
}

/* Converts a one-record logs document whose record is rec; expects refusal. */
static void
expect_bad_log(const char *rec, const char *needle)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{},%s]}]}]}", rec);
	json_t *doc = parse(text), *out = NULL;
	struct jg_otlp_error e;
	assert_int_equal(jg_otlp_logs(doc, "pay", NOW, &out, &e), JG_EINVAL);
	assert_null(out);
	assert_int_equal(e.index, 1);
	assert_string_equal(e.path, "resourceLogs[0].scopeLogs[0].logRecords[1]");
	if (strstr(e.why, needle) == NULL)
		fail_msg("%s: reason \"%s\" lacks \"%s\"", rec, e.why, needle);
	json_decref(doc);
}

static void
test_otlp_logs_refused(void **state)
{
	(void)state;
	expect_bad_log("{\"traceId\":\"5b8efff798038103d269b633813fc60\"}", "traceId");
	expect_bad_log("{\"traceId\":\"00000000000000000000000000000000\"}", "traceId");
	expect_bad_log("{\"spanId\":\"eee19b7ec3c1b17g\"}", "spanId");
	expect_bad_log("{\"traceId\":5}", "traceId");
	expect_bad_log("{\"timeUnixNano\":\"-5\"}", "timeUnixNano");
	expect_bad_log("{\"timeUnixNano\":\"1e9\"}", "timeUnixNano");
	expect_bad_log("{\"severityNumber\":25}", "severityNumber");
	expect_bad_log("{\"severityNumber\":\"LOUD\"}", "severityNumber");
	expect_bad_log("{\"severityText\":7}", "severityText");
	expect_bad_log("{\"attributes\":{\"k\":\"v\"}}", "attributes");
	expect_bad_log("{\"attributes\":[{\"key\":\"\",\"value\":{}}]}", "key");
	expect_bad_log("{\"body\":{\"intValue\":\"x\"}}", "body");
	expect_bad_log("[]", "object");

	/* the resource belongs to another service */
	json_t *doc =
	    parse("{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{}]}]},{\"resource\":"
		  "{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
		  "\"other\"}}]},\"scopeLogs\":[{\"logRecords\":[{}]}]}]}");
	json_t *out = NULL;
	struct jg_otlp_error e;
	assert_int_equal(jg_otlp_logs(doc, "pay", NOW, &out, &e), JG_EINVAL);
	assert_int_equal(e.index, 1);
	assert_string_equal(e.path, "resourceLogs[1]");
	assert_non_null(
	    strstr(e.why, "service.name 'other' is not this ingest key's service 'pay'"));
	json_decref(doc);
	/* not a request at all */
	doc = parse("{\"resourceLogs\":{}}");
	assert_int_equal(jg_otlp_logs(doc, "pay", NOW, &out, &e), JG_EINVAL);
	json_decref(doc);
	/* an empty request is an empty batch */
	doc = parse("{}");
	assert_int_equal(jg_otlp_logs(doc, "pay", NOW, &out, &e), 0);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	json_decref(doc);
}

static void
test_otlp_logs_batch_cap(void **state)
{
	json_t *recs = json_array();
	(void)state;
	for (int i = 0; i <= JG_OTLP_MAX_RECORDS; i++)
		json_array_append_new(recs, json_object());
	json_t *doc =
	    json_pack("{s:[{s:[{s:o}]}]}", "resourceLogs", "scopeLogs", "logRecords", recs);
	json_t *out = NULL;
	struct jg_otlp_error e;
	assert_int_equal(jg_otlp_logs(doc, "pay", NOW, &out, &e), JG_ETOOBIG);
	assert_int_equal(e.index, JG_OTLP_MAX_RECORDS);
	assert_null(out);
	json_decref(doc);
}

static const char spans_doc[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.version\",\"value\":{"
    "\"stringValue\":\"2.4.0\"}},{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h7\"}}]},"
    "\"scopeSpans\":[{\"spans\":["
    "{\"traceId\":\"0AF7651916CD43DD8448EB211C80319C\",\"spanId\":\"B7AD6B7169203331\","
    "\"parentSpanId\":\"\",\"name\":\"GET /\",\"kind\":2,\"startTimeUnixNano\":"
    "\"1795600800000000000\",\"endTimeUnixNano\":\"1795600800500000000\",\"status\":{\"code\":2,"
    "\"message\":\"bad\"},\"attributes\":[{\"key\":\"http.response.status_code\",\"value\":{"
    "\"intValue\":\"503\"}}],\"events\":[{\"timeUnixNano\":\"1795600800400000000\",\"name\":"
    "\"exception\",\"attributes\":[{\"key\":\"exception.type\",\"value\":{\"stringValue\":"
    "\"Timeout\"}}]}],\"links\":[],\"droppedAttributesCount\":0},"
    "{\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"span_id\":\"00f067aa0ba902b7\","
    "\"parent_span_id\":\"b7ad6b7169203331\",\"name\":\"db\",\"kind\":\"SPAN_KIND_CLIENT\","
    "\"start_time_unix_nano\":1795600800100000000,\"end_time_unix_nano\":1795600800200000000,"
    "\"status\":{\"code\":\"STATUS_CODE_ERROR\"},\"attributes\":[{\"key\":\"error.type\","
    "\"value\":{\"stringValue\":\"DB_TIMEOUT\"}}]},"
    "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"1111111111111111\","
    "\"name\":\"ok\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"1\",\"attributes\":[{"
    "\"key\":\"http.response.status_code\",\"value\":{\"intValue\":200}}]}]}]}]}";

static void
test_otlp_spans_fields(void **state)
{
	json_t *doc = parse(spans_doc), *out = NULL;
	struct jg_otlp_error e;
	(void)state;

	assert_int_equal(jg_otlp_spans(doc, "pay", &out, &e), 0);
	assert_int_equal(json_array_size(out), 3);
	assert_json(json_array_get(out, 0),
		    "{\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"span_id\":"
		    "\"b7ad6b7169203331\",\"parent_span_id\":null,\"service\":\"pay\","
		    "\"service_version\":\"2.4.0\",\"instance\":\"h7\",\"name\":\"GET /\",\"kind\":"
		    "\"server\",\"start_ns\":1795600800000000000,\"end_ns\":1795600800500000000,"
		    "\"status\":\"error\",\"error\":\"bad\",\"error_code\":\"503\",\"attributes\":{"
		    "\"http.response.status_code\":503},\"events\":[{\"name\":\"exception\","
		    "\"time_ns\":1795600800400000000,\"attributes\":{\"exception.type\":"
		    "\"Timeout\"}}]}");
	json_t *db = json_array_get(out, 1);
	assert_string_equal(json_string_value(json_object_get(db, "parent_span_id")),
			    "b7ad6b7169203331");
	assert_string_equal(json_string_value(json_object_get(db, "kind")), "client");
	assert_string_equal(json_string_value(json_object_get(db, "error_code")), "DB_TIMEOUT");
	assert_true(json_is_null(json_object_get(db, "error"))); /* no message */
	json_t *ok = json_array_get(out, 2);
	assert_string_equal(json_string_value(json_object_get(ok, "status")), "unset");
	assert_string_equal(json_string_value(json_object_get(ok, "kind")), "unspecified");
	/* a status code is an error code only for a failed span */
	assert_true(json_is_null(json_object_get(ok, "error_code")));
	json_decref(out);
	json_decref(doc);

	/* the instance: service.instance.id, else host.name, else the service */
	doc = parse("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
		    "\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\","
		    "\"name\":\"x\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"}]}]}]}");
	assert_int_equal(jg_otlp_spans(doc, "pay", &out, &e), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "instance")),
			    "pay");
	assert_true(json_is_null(json_object_get(json_array_get(out, 0), "service_version")));
	json_decref(out);
	json_decref(doc);
}

static void
expect_bad_span(const char *fields, const char *needle)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
		 "\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\",\"name\":"
		 "\"x\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"},{%s}]}]}]}",
		 fields);
	json_t *doc = parse(text), *out = NULL;
	struct jg_otlp_error e;
	if (jg_otlp_spans(doc, "pay", &out, &e) != JG_EINVAL)
		fail_msg("accepted a span with %s", fields);
	assert_int_equal(e.index, 1);
	assert_string_equal(e.path, "resourceSpans[0].scopeSpans[0].spans[1]");
	if (strstr(e.why, needle) == NULL)
		fail_msg("%s: reason \"%s\" lacks \"%s\"", fields, e.why, needle);
	json_decref(doc);
}

#define IDS   "\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"00f067aa0ba902b7\","
#define TIMES "\"startTimeUnixNano\":\"5\",\"endTimeUnixNano\":\"6\","

static void
test_otlp_spans_refused(void **state)
{
	(void)state;
	expect_bad_span("\"spanId\":\"00f067aa0ba902b7\",\"name\":\"x\"," TIMES "\"x\":1",
			"traceId");
	expect_bad_span("\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"name\":\"x\"," TIMES
			"\"x\":1",
			"spanId");
	expect_bad_span(IDS "\"parentSpanId\":\"zz\",\"name\":\"x\"," TIMES "\"x\":1",
			"parentSpanId");
	expect_bad_span(IDS TIMES "\"x\":1", "name");
	expect_bad_span(IDS "\"name\":\"x\",\"startTimeUnixNano\":\"5\"", "endTimeUnixNano");
	expect_bad_span(IDS "\"name\":\"x\",\"startTimeUnixNano\":\"6\",\"endTimeUnixNano\":\"5\"",
			"before startTimeUnixNano");
	expect_bad_span(IDS "\"name\":\"x\"," TIMES "\"kind\":9", "kind");
	expect_bad_span(IDS "\"name\":\"x\"," TIMES "\"status\":{\"code\":\"BAD\"}", "status.code");
	expect_bad_span(IDS "\"name\":\"x\"," TIMES "\"status\":{\"message\":5}", "status.message");
	expect_bad_span(IDS "\"name\":\"x\"," TIMES "\"events\":[{\"timeUnixNano\":\"5\"}]",
			"events[0]");
	expect_bad_span(IDS "\"name\":\"x\"," TIMES
			    "\"events\":[{\"name\":\"e\",\"timeUnixNano\":\"-1\"}]",
			"events[0]");
	expect_bad_span(IDS "\"name\":\"x\"," TIMES "\"events\":{}", "events");
}

static const char metrics_doc[] =
    "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"service.instance.id\","
    "\"value\":{\"stringValue\":\"i-1\"}}]},\"scopeMetrics\":[{\"metrics\":["
    "{\"name\":\"g\",\"unit\":\"1\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"10\","
    "\"asInt\":\"-3\",\"attributes\":[{\"key\":\"q\",\"value\":{\"stringValue\":\"a\"}}]},"
    "{\"timeUnixNano\":11,\"asDouble\":\"NaN\"}]}},"
    "{\"name\":\"s\",\"sum\":{\"aggregationTemporality\":\"AGGREGATION_TEMPORALITY_DELTA\","
    "\"isMonotonic\":true,\"dataPoints\":[{\"startTimeUnixNano\":\"1\",\"timeUnixNano\":\"2\","
    "\"asDouble\":2.5}]}},"
    "{\"name\":\"h\",\"histogram\":{\"aggregationTemporality\":2,\"dataPoints\":[{"
    "\"timeUnixNano\":\"3\",\"count\":\"5\",\"sum\":7.5,\"min\":0.5,\"bucketCounts\":[\"1\","
    "\"4\",\"0\"],\"explicitBounds\":[1,2.5]}]}},"
    "{\"name\":\"e\",\"exponentialHistogram\":{\"dataPoints\":[{},{}]}},"
    "{\"name\":\"sm\",\"summary\":{\"dataPoints\":[{}]}},"
    "{\"name\":\"nodata\"}]}]}]}";

static void
test_otlp_metrics_fields(void **state)
{
	json_t *doc = parse(metrics_doc), *out = NULL;
	struct jg_otlp_error e;
	size_t skipped = 0;
	(void)state;

	assert_int_equal(jg_otlp_metrics(doc, "pay", &out, &skipped, &e), 0);
	assert_int_equal(skipped, 3);
	assert_int_equal(json_array_size(out), 4);
	assert_json(
	    json_array_get(out, 0),
	    "{\"name\":\"g\",\"kind\":\"gauge\",\"unit\":\"1\",\"description\":\"\","
	    "\"temporality\":\"unspecified\",\"monotonic\":false,\"series\":{\"q\":\"a\","
	    "\"service.instance.id\":\"i-1\"},\"start_ns\":0,\"time_ns\":10,\"value\":-3.0}");
	assert_true(json_is_null(json_object_get(json_array_get(out, 1), "value")));
	json_t *s = json_array_get(out, 2);
	assert_string_equal(json_string_value(json_object_get(s, "temporality")), "delta");
	assert_true(json_is_true(json_object_get(s, "monotonic")));
	assert_json(json_object_get(json_array_get(out, 3), "histogram"),
		    "{\"count\":5,\"sum\":7.5,\"min\":0.5,\"max\":null,\"bounds\":[1.0,2.5],"
		    "\"counts\":[1,4,0]}");
	json_decref(out);
	json_decref(doc);
}

static void
expect_bad_metric(const char *metric, const char *needle)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"ok\","
		 "\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"1\",\"asInt\":1}]}},%s]}]}]}",
		 metric);
	json_t *doc = parse(text), *out = NULL;
	struct jg_otlp_error e;
	size_t skipped;
	assert_int_equal(jg_otlp_metrics(doc, "pay", &out, &skipped, &e), JG_EINVAL);
	assert_int_equal(e.index, 1);
	if (strstr(e.why, needle) == NULL)
		fail_msg("%s: reason \"%s\" lacks \"%s\"", metric, e.why, needle);
	json_decref(doc);
}

static void
test_otlp_metrics_refused(void **state)
{
	(void)state;
	expect_bad_metric("{\"gauge\":{}}", "name");
	expect_bad_metric("{\"name\":\"x\",\"gauge\":{\"dataPoints\":[{\"asInt\":1}]}}",
			  "timeUnixNano");
	expect_bad_metric("{\"name\":\"x\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"1\"}]}}",
			  "asDouble or asInt");
	expect_bad_metric(
	    "{\"name\":\"x\",\"sum\":{\"aggregationTemporality\":7,\"dataPoints\":[]}}",
	    "aggregationTemporality");
	/* bucket counts that do not add up, one too few, bounds out of order */
	expect_bad_metric(
	    "{\"name\":\"x\",\"histogram\":{\"dataPoints\":[{\"timeUnixNano\":\"1\","
	    "\"count\":\"9\",\"bucketCounts\":[\"1\",\"1\"],\"explicitBounds\":[1]}]}}",
	    "adding up to count");
	expect_bad_metric("{\"name\":\"x\",\"histogram\":{\"dataPoints\":[{\"timeUnixNano\":\"1\","
			  "\"count\":\"2\",\"bucketCounts\":[\"2\"],\"explicitBounds\":[1]}]}}",
			  "one more");
	expect_bad_metric("{\"name\":\"x\",\"histogram\":{\"dataPoints\":[{\"timeUnixNano\":\"1\","
			  "\"count\":\"2\",\"bucketCounts\":[\"1\",\"1\",\"0\"],"
			  "\"explicitBounds\":[2,1]}]}}",
			  "increasing");
}

static void
test_otlp_ndjson(void **state)
{
	static const char body[] =
	    "{\"time\":\"2026-11-25T10:00:00.5+01:00\",\"level\":\"ERROR\",\"msg\":\"a\",\"user\":"
	    "\"u1\",\"trace_id\":\"0AF7651916CD43DD8448EB211C80319C\"}\n"
	    "\n   \n"
	    "{\"ts\":1795600800,\"severity\":\"warning\",\"message\":{\"k\":1},\"attributes\":{"
	    "\"x\":true}}\r\n"
	    "{\"timestamp\":1795600800123,\"body\":\"ms\"}\n"
	    "{\"time\":1795600800123456,\"service\":\"pay\"}\n"
	    "{\"time\":1795600800123456789}";
	json_t *out = NULL;
	struct jg_otlp_error e;
	(void)state;

	assert_int_equal(jg_otlp_logs_ndjson(body, strlen(body), "pay", NOW, &out, &e), 0);
	assert_int_equal(json_array_size(out), 5);
	json_t *r0 = json_array_get(out, 0);
	assert_int_equal(json_integer_value(json_object_get(r0, "time_ns")),
			 1795600800000000000LL - 3600000000000LL + 500000000LL);
	assert_string_equal(json_string_value(json_object_get(r0, "level")), "error");
	assert_json(json_object_get(r0, "attributes"), "{\"user\":\"u1\"}");
	assert_string_equal(json_string_value(json_object_get(r0, "trace_id")),
			    "0af7651916cd43dd8448eb211c80319c");
	json_t *r1 = json_array_get(out, 1);
	assert_int_equal(json_integer_value(json_object_get(r1, "time_ns")), 1795600800000000000LL);
	assert_string_equal(json_string_value(json_object_get(r1, "level")), "warn");
	assert_json(json_object_get(r1, "body"), "{\"k\":1}");
	assert_json(json_object_get(r1, "attributes"), "{\"x\":true}");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 2), "time_ns")),
			 1795600800123000000LL);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 3), "time_ns")),
			 1795600800123456000LL);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 4), "time_ns")),
			 1795600800123456789LL);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 4), "level")),
			    "unset");
	json_decref(out);

	static const struct {
		const char *body, *path, *needle;
		size_t index;
	} bad[] = {
	    {"{\"msg\":1}\n[1]\n", "line 2", "JSON object", 1},
	    {"{\"msg\":1}\n\n{\"msg\":2,\"msg\":3}\n", "line 3", "JSON object", 1},
	    {"{\"time\":\"yesterday\"}", "line 1", "RFC 3339", 0},
	    {"{\"level\":5}", "line 1", "string", 0},
	    {"{\"trace_id\":\"abc\"}", "line 1", "trace_id", 0},
	    {"{\"service\":\"other\"}", "line 1", "service", 0},
	    {"\n\n", "line 1", "no records", 0},
	    {"{\"msg\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}", "line 1", "deeper", 0},
	    /* a Unix time whose nanoseconds do not fit int64 (after 2262-04-11): refused, not
	       wrapped to a negative time the logs cursor cannot page past */
	    {"{\"time\":50000000000}", "line 1", "Unix time", 0},
	    {"{\"time\":9223372037}", "line 1", "Unix time", 0},
	    {"{\"ts\":9223372036855}", "line 1", "Unix time", 0},
	    {"{\"ts\":99999999999999}", "line 1", "Unix time", 0},
	    {"{\"timestamp\":9223372036854776}", "line 1", "Unix time", 0},
	    {"{\"time\":5e10}", "line 1", "Unix time", 0},
	    {"{\"time\":9.3e12}", "line 1", "Unix time", 0},
	    {"{\"time\":9.3e15}", "line 1", "Unix time", 0},
	    {"{\"time\":9.3e18}", "line 1", "Unix time", 0},
	    {"{\"time\":-1}", "line 1", "Unix time", 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = NULL;
		assert_int_equal(
		    jg_otlp_logs_ndjson(bad[i].body, strlen(bad[i].body), "pay", NOW, &out, &e),
		    JG_EINVAL);
		assert_null(out);
		assert_int_equal(e.index, bad[i].index);
		assert_string_equal(e.path, bad[i].path);
		if (strstr(e.why, bad[i].needle) == NULL)
			fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, e.why, bad[i].needle);
	}
}

/* The last Unix time of each unit that int64 nanoseconds hold is kept exactly; one past is refused
   (the cases in test_otlp_ndjson). */
static void
test_otlp_ndjson_time_edges(void **state)
{
	static const struct {
		const char *line;
		int64_t ns;
	} ok[] = {
	    {"{\"time\":9223372036}", 9223372036000000000LL},
	    {"{\"time\":9223372036854}", 9223372036854000000LL},
	    {"{\"time\":9223372036854775}", 9223372036854775000LL},
	    {"{\"time\":1}", 1000000000LL},
	    {"{\"time\":1.5}", 1500000000LL},
	    {"{\"time\":9.2e12}", 9200000000000000000LL},
	    {"{\"time\":9.2e18}", 9200000000000000000LL},
	};
	struct jg_otlp_error e;
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		json_t *out = NULL;
		int rc = jg_otlp_logs_ndjson(ok[i].line, strlen(ok[i].line), "pay", NOW, &out, &e);
		if (rc != 0)
			fail_msg("case %zu (%s): %d %s", i, ok[i].line, rc, e.why);
		assert_int_equal(
		    json_integer_value(json_object_get(json_array_get(out, 0), "time_ns")),
		    ok[i].ns);
		json_decref(out);
	}
}

static void
test_otlp_parse_rfc3339(void **state)
{
	int64_t ns;
	(void)state;
	assert_int_equal(jg_otlp_parse_rfc3339("2026-11-25T10:00:00Z", &ns), 0);
	assert_int_equal(ns, 1795600800000000000LL);
	assert_int_equal(jg_otlp_parse_rfc3339("2026-11-25t10:00:00.123456789123z", &ns), 0);
	assert_int_equal(ns, 1795600800123456789LL);
	assert_int_equal(jg_otlp_parse_rfc3339("2026-11-25T12:30:00.1+02:30", &ns), 0);
	assert_int_equal(ns, 1795600800100000000LL);
	assert_int_equal(jg_otlp_parse_rfc3339("1970-01-01T00:00:00Z", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(jg_otlp_parse_rfc3339("2262-04-11T23:47:15Z", &ns),
			 0); /* the last whole second */
	assert_int_equal(ns, (int64_t)9223372035 * 1000000000);
	static const char *const bad[] = {
	    "2026-11-25",
	    "2026-11-25T10:00:00",
	    "2026-02-30T10:00:00Z",
	    "2026-13-01T00:00:00Z",
	    "2026-11-25T24:00:00Z",
	    "2026-11-25T10:00:00.Z",
	    "2026-11-25T10:00:00+0100",
	    "1969-12-31T23:59:59Z",
	    "2026-11-25T10:00:00Zjunk",
	    "",
	    "2385-11-25T20:00:00Z", /* past int64 nanoseconds (2262): found by fuzz/fuzz_otlp_ingest
				     */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (jg_otlp_parse_rfc3339(bad[i], &ns) != JG_EINVAL)
			fail_msg("accepted %s", bad[i]);
}

static void
test_otlp_level(void **state)
{
	(void)state;
	assert_string_equal(jg_otlp_level(0), "unset");
	assert_string_equal(jg_otlp_level(1), "trace");
	assert_string_equal(jg_otlp_level(8), "debug");
	assert_string_equal(jg_otlp_level(9), "info");
	assert_string_equal(jg_otlp_level(16), "warn");
	assert_string_equal(jg_otlp_level(17), "error");
	assert_string_equal(jg_otlp_level(24), "fatal");
	assert_string_equal(jg_otlp_level(25), "unset");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_otlp_any_value_kinds),
	    cmocka_unit_test(test_otlp_any_value_refused),
	    cmocka_unit_test(test_otlp_logs_fields),
	    cmocka_unit_test(test_otlp_logs_refused),
	    cmocka_unit_test(test_otlp_logs_batch_cap),
	    cmocka_unit_test(test_otlp_spans_fields),
	    cmocka_unit_test(test_otlp_spans_refused),
	    cmocka_unit_test(test_otlp_metrics_fields),
	    cmocka_unit_test(test_otlp_metrics_refused),
	    cmocka_unit_test(test_otlp_ndjson),
	    cmocka_unit_test(test_otlp_ndjson_time_edges),
	    cmocka_unit_test(test_otlp_parse_rfc3339),
	    cmocka_unit_test(test_otlp_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
