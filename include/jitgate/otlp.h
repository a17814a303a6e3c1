/*
 * otlp.h - OTLP/HTTP JSON (and JSON Lines logs) to the records jitgate stores.
 *
 * Pure functions over jansson documents: no I/O, no clock (the caller passes
 * "now"), so every quirk of the OpenTelemetry protobuf JSON mapping is unit
 * tested here (tests/unit/test_otlp.c):
 *   - trace and span ids are hex strings (32 and 16 digits; "" means none;
 *     upper case accepted, stored lower case; all zeros is refused);
 *   - 64-bit integers (timeUnixNano, intValue, count, bucketCounts) may be
 *     JSON numbers or decimal strings;
 *   - doubles may be numbers or the strings "NaN", "Infinity", "-Infinity"
 *     (stored as null: JSON has no such numbers);
 *   - enums (span kind, status code, severity number, temporality) may be
 *     integers or their names ("SPAN_KIND_SERVER");
 *   - field names are lowerCamelCase, and the original snake_case names are
 *     accepted too; unknown fields are ignored (forward compatibility);
 *   - attributes are [{key, value: AnyValue}] and AnyValue is one of
 *     stringValue, boolValue, intValue, doubleValue, arrayValue{values},
 *     kvlistValue{values}, bytesValue (base64, kept as its text); {} is null.
 *
 * A batch is converted whole or not at all: the first malformed record stops
 * the conversion and *err names it (its ordinal in the batch, from 0, and
 * its path in the document).  The resource's service.name must be the
 * ingest key's service (absent means that service): a key stores only its
 * own service's telemetry.
 */
#ifndef JITGATE_OTLP_H
#define JITGATE_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define JG_OTLP_MAX_RECORDS    10000 /* records (log records, spans, data points) per batch */
#define JG_OTLP_MAX_ATTRIBUTES 256   /* attributes per record, resource or event */
#define JG_OTLP_MAX_DEPTH      16    /* nested AnyValue arrays and kvlists */
#define JG_OTLP_MAX_EVENTS     128   /* events per span */
#define JG_OTLP_MAX_BUCKETS    256   /* histogram buckets per data point */
#define JG_OTLP_MAX_LINE       65536 /* bytes of one JSON Lines record */

/* Why a batch was refused: the record's ordinal, its path, and the reason. */
struct jg_otlp_error {
	size_t index;
	char path[200];
	char why[256];
};

/*
 * resourceLogs -> a new array (caller decrefs) of log records:
 *   {"time_ns", "observed_ns", "severity_number", "severity_text" (string|null),
 *    "level" ("trace"|"debug"|"info"|"warn"|"error"|"fatal"|"unset"),
 *    "body" (AnyValue as plain JSON), "attributes" {}, "resource" {},
 *    "scope" {"name","version"}, "trace_id", "span_id" (hex|null)}
 * A record without a time gets its observed time, else now_ns.
 * Returns 0, JG_EINVAL (*err set), JG_ETOOBIG (too many records, *err set)
 * or JG_ENOMEM.
 */
int jg_otlp_logs(json_t *doc, const char *service, int64_t now_ns, json_t **out,
		 struct jg_otlp_error *err);

/*
 * JSON Lines (one JSON object per line, blank lines skipped) -> the same
 * records.  Known fields: "time"/"timestamp"/"ts" (RFC 3339 text, or a
 * number of Unix seconds, milliseconds, microseconds or nanoseconds told
 * apart by magnitude), "level"/"severity", "message"/"msg"/"body",
 * "trace_id", "span_id", "attributes" (an object, merged); every other field
 * becomes an attribute.  "service", when present, must be the key's service.
 */
int jg_otlp_logs_ndjson(const char *body, size_t len, const char *service, int64_t now_ns,
			json_t **out, struct jg_otlp_error *err);

/*
 * resourceSpans -> a new array of span objects in the shape of
 * trace_analysis.h: {"trace_id","span_id","parent_span_id","service",
 * "service_version","instance","name","kind","start_ns","end_ns","status",
 * "error","error_code","attributes","events":[{"name","time_ns","attributes"}]}.
 * error_code is the attribute error.type, else (for a failed span)
 * rpc.grpc.status_code or the HTTP response status code, else the type of
 * an "exception" event, else null.
 */
int jg_otlp_spans(json_t *doc, const char *service, json_t **out, struct jg_otlp_error *err);

/*
 * resourceMetrics -> a new array of data points:
 *   {"name","kind" ("gauge"|"sum"|"histogram"),"unit","description",
 *    "temporality" ("cumulative"|"delta"|"unspecified"),"monotonic" (bool),
 *    "series" {attributes, plus service.instance.id of the resource},
 *    "start_ns","time_ns", and "value" (number|null) or "histogram"
 *    {"count","sum","min","max","bounds":[...],"counts":[...]}}.
 * Exponential histograms and summaries are not stored: *skipped counts
 * their data points (reported to the sender as a partial success).
 */
int jg_otlp_metrics(json_t *doc, const char *service, json_t **out, size_t *skipped,
		    struct jg_otlp_error *err);

/*
 * One OTLP AnyValue -> plain JSON (a new reference in *out).  Returns 0 or
 * JG_EINVAL with why filled.
 */
int jg_otlp_any_value(json_t *v, json_t **out, char *why, size_t whylen);

/*
 * Parses RFC 3339 text ("2026-11-25T10:00:00Z", "…T10:00:00.123456789+01:00")
 * into Unix nanoseconds.  Returns 0 or JG_EINVAL.
 */
int jg_otlp_parse_rfc3339(const char *s, int64_t *ns);

/* The level name of an OTLP severity number (0 -> "unset"). */
const char *jg_otlp_level(int64_t severity_number);

#endif
