/*
 * otlp.c - OTLP/HTTP JSON and JSON Lines logs to stored records (otlp.h).
 *
 * Each converter walks resource -> scope -> record, checks every field it
 * keeps (type, range, size) and builds the normalised record; the first bad
 * record ends the walk with its ordinal and path in *err, so the caller
 * stores a batch whole or not at all.  Fields jitgate does not keep are
 * ignored, as the OTLP specification asks of receivers.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/otlp.h"
#include "jitgate/parse.h"

#define MAX_KEY_BYTES 256

/* A walk over one batch: where we are, for error messages. */
struct walk {
	struct jg_otlp_error *err;
	size_t index; /* ordinal of the current record */
	char path[200];
	const char *service;
};

static int fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	w->err->index = w->index;
	snprintf(w->err->path, sizeof(w->err->path), "%s", w->path);
	va_start(ap, fmt);
	(void)vsnprintf(w->err->why, sizeof(w->err->why), fmt, ap); /* a longer reason is cut */
	va_end(ap);
	return JG_EINVAL;
}

/* A field by its lowerCamelCase name, else its proto (snake_case) name. */
static json_t *
field(json_t *obj, const char *camel, const char *snake)
{
	json_t *v = json_object_get(obj, camel);
	if (v == NULL && snake != NULL)
		v = json_object_get(obj, snake);
	return json_is_null(v) ? NULL : v;
}

/* int64 as a JSON integer or a decimal string; NULL (absent) gives def. */
static int
int64_of(json_t *v, int64_t def, int64_t *out)
{
	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) { /* an exporter that wrote a large integer as 1e18 */
		double d = json_real_value(v);
		if (!(d >= -9.2e18 && d <= 9.2e18) || d != floor(d))
			return JG_EINVAL;
		*out = (int64_t)d;
		return 0;
	}
	const char *s = json_string_value(v);
	return s != NULL && jg_parse_i64(s, INT64_MIN, INT64_MAX, out) == 0 ? 0 : JG_EINVAL;
}

/* A non-negative time or count. */
static int
uint_of(json_t *v, int64_t def, int64_t *out)
{
	return int64_of(v, def, out) == 0 && *out >= 0 ? 0 : JG_EINVAL;
}

/* A double as a number or "NaN"/"Infinity"/"-Infinity" (-> *isnum = 0). */
static int
double_of(json_t *v, double *out, int *isnum)
{
	*isnum = 1;
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	const char *s = json_string_value(v);
	if (s == NULL)
		return JG_EINVAL;
	if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
		*isnum = 0;
		*out = 0;
		return 0;
	}
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (errno != 0 || *s == '\0' || *end != '\0' || !isfinite(d))
		return JG_EINVAL;
	*out = d;
	return 0;
}

/* An enum as an integer or one of names[] (index = value). */
static int
enum_of(json_t *v, const char *const *names, int n, int def, int *out)
{
	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0 || i >= n)
			return JG_EINVAL;
		*out = (int)i;
		return 0;
	}
	const char *s = json_string_value(v);
	for (int i = 0; s && i < n; i++) {
		if (names[i] && strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return JG_EINVAL;
}

/* A hex id of ndigits, lower-cased into a new JSON string; "" or absent -> JSON null. */
static int
hex_id(json_t *v, size_t ndigits, json_t **out)
{
	*out = NULL;
	if (v == NULL) {
		*out = json_null();
		return 0;
	}
	const char *s = json_string_value(v);
	if (s == NULL)
		return JG_EINVAL;
	size_t n = strlen(s);
	if (n == 0) {
		*out = json_null();
		return 0;
	}
	char buf[33];
	if (n != ndigits || n >= sizeof(buf) || !jg_hex_lower(s, n, buf) || strspn(buf, "0") == n)
		return JG_EINVAL;
	*out = json_string(buf);
	return *out ? 0 : JG_ENOMEM;
}

static int any_value(json_t *v, int depth, json_t **out, char *why, size_t whylen);

/* [{key, value}] -> {key: value}; a repeated key: the last one wins. */
static int
attributes_of(json_t *list, int depth, json_t **out, char *why, size_t whylen)
{
	size_t i;
	json_t *kv;

	*out = json_object();
	if (*out == NULL)
		return JG_ENOMEM;
	if (list == NULL)
		return 0;
	if (!json_is_array(list)) {
		snprintf(why, whylen, "attributes must be a list of {key, value}");
		goto bad;
	}
	if (json_array_size(list) > JG_OTLP_MAX_ATTRIBUTES) {
		snprintf(why, whylen, "more than %d attributes", JG_OTLP_MAX_ATTRIBUTES);
		goto bad;
	}
	json_array_foreach(list, i, kv)
	{
		const char *key = json_string_value(json_object_get(kv, "key"));
		if (!json_is_object(kv) || key == NULL || *key == '\0' ||
		    json_string_length(json_object_get(kv, "key")) > MAX_KEY_BYTES ||
		    strlen(key) != json_string_length(json_object_get(kv, "key"))) {
			snprintf(why, whylen, "attributes[%zu]: a key of 1 to %d bytes is required",
				 i, MAX_KEY_BYTES);
			goto bad;
		}
		json_t *val = NULL;
		char inner[200];
		if (any_value(json_object_get(kv, "value"), depth, &val, inner, sizeof(inner)) !=
		    0) {
			snprintf(why, whylen, "attribute '%.64s': %s", key, inner);
			goto bad;
		}
		if (json_object_set_new(*out, key, val) != 0)
			goto bad;
	}
	return 0;
bad:
	json_decref(*out);
	*out = NULL;
	return JG_EINVAL;
}

/* The fields of an AnyValue, in the order they are looked for: the first one present wins. */
enum any_kind {
	ANY_STRING,
	ANY_BOOL,
	ANY_INT,
	ANY_DOUBLE,
	ANY_BYTES,
	ANY_ARRAY,
	ANY_KVLIST,
	ANY_EMPTY
};
static const char *const any_fields[ANY_EMPTY][2] = {
    {"stringValue", "string_value"}, {"boolValue", "bool_value"},   {"intValue", "int_value"},
    {"doubleValue", "double_value"}, {"bytesValue", "bytes_value"}, {"arrayValue", "array_value"},
    {"kvlistValue", "kvlist_value"}};

static int
any_value(json_t *v, int depth, json_t **out, char *why, size_t whylen)
{
	json_t *x;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		*out = json_null();
		return 0;
	}
	if (!json_is_object(v)) {
		snprintf(why, whylen,
			 "a value must be an AnyValue object such as {\"stringValue\":…}");
		return JG_EINVAL;
	}
	if (depth > JG_OTLP_MAX_DEPTH) {
		snprintf(why, whylen, "values nest deeper than %d levels", JG_OTLP_MAX_DEPTH);
		return JG_EINVAL;
	}
	enum any_kind kind = ANY_EMPTY;
	for (int k = 0; k < ANY_EMPTY && kind == ANY_EMPTY; k++)
		if ((x = field(v, any_fields[k][0], any_fields[k][1])) != NULL)
			kind = (enum any_kind)k;
	switch (kind) {
	case ANY_STRING:
	case ANY_BYTES: /* bytes are kept as their base64 text */
		if (!json_is_string(x))
			goto bad;
		*out = json_incref(x);
		break;
	case ANY_BOOL:
		if (!json_is_boolean(x))
			goto bad;
		*out = json_incref(x);
		break;
	case ANY_INT: {
		int64_t n;
		if (int64_of(x, 0, &n) != 0)
			goto bad;
		*out = json_integer(n);
		break;
	}
	case ANY_DOUBLE: {
		double d;
		int isnum;
		if (double_of(x, &d, &isnum) != 0)
			goto bad;
		*out = isnum ? json_real(d) : json_string(json_string_value(x));
		break;
	}
	case ANY_ARRAY: {
		json_t *vals = json_object_get(x, "values"), *e;
		size_t i;
		if (!json_is_object(x) || (vals && !json_is_array(vals)))
			goto bad;
		*out = json_array();
		json_array_foreach(vals, i, e)
		{
			json_t *c;
			if (any_value(e, depth + 1, &c, why, whylen) != 0) {
				json_decref(*out);
				*out = NULL;
				return JG_EINVAL;
			}
			json_array_append_new(*out, c);
		}
		break;
	}
	case ANY_KVLIST:
		if (!json_is_object(x))
			goto bad;
		return attributes_of(json_object_get(x, "values"), depth + 1, out, why, whylen);
	case ANY_EMPTY:
		*out = json_null(); /* an empty AnyValue */
		break;
	}
	return *out ? 0 : JG_ENOMEM;
bad:
	snprintf(why, whylen, "a malformed AnyValue");
	return JG_EINVAL;
}

int
jg_otlp_any_value(json_t *v, json_t **out, char *why, size_t whylen)
{
	return any_value(v, 0, out, why, whylen);
}

const char *
jg_otlp_level(int64_t sev)
{
	static const char *const names[] = {"trace", "debug", "info", "warn", "error", "fatal"};
	if (sev < 1 || sev > 24)
		return "unset";
	return names[(sev - 1) / 4];
}

/* ---- time ------------------------------------------------------------------ */

/* RFC 3339 text is read by the base's parser: requests take it too (parse.h). */
int
jg_otlp_parse_rfc3339(const char *s, int64_t *ns)
{
	return jg_parse_rfc3339(s, ns);
}

/* ---- resources ------------------------------------------------------------- */

/* The resource's attributes; its service.name must be the key's service. */
static int
resource_of(struct walk *w, json_t *res_entry, json_t **attrs)
{
	char why[200];
	json_t *res = field(res_entry, "resource", NULL);

	*attrs = NULL;
	if (res != NULL && !json_is_object(res))
		return fail(w, "resource must be an object");
	if (attributes_of(res ? field(res, "attributes", NULL) : NULL, 0, attrs, why,
			  sizeof(why)) != 0)
		return fail(w, "resource: %s", why);
	json_t *svc = json_object_get(*attrs, "service.name");
	if (svc != NULL &&
	    (!json_is_string(svc) || strcmp(json_string_value(svc), w->service) != 0)) {
		json_decref(*attrs);
		*attrs = NULL;
		return fail(
		    w, "resource service.name '%.64s' is not this ingest key's service '%s'",
		    json_is_string(svc) ? json_string_value(svc) : "(not a string)", w->service);
	}
	if (svc == NULL)
		json_object_set_new(*attrs, "service.name", json_string(w->service));
	return 0;
}

/* A list field: absent is empty; anything but a list is refused. */
static int
list_of(struct walk *w, json_t *obj, const char *camel, const char *snake, json_t **out)
{
	*out = field(obj, camel, snake);
	if (*out != NULL && !json_is_array(*out))
		return fail(w, "'%s' must be a list", camel);
	return 0;
}

static json_t *
scope_of(json_t *scope_entry)
{
	json_t *sc = field(scope_entry, "scope", NULL);
	const char *name = json_string_value(json_object_get(sc, "name"));
	const char *version = json_string_value(json_object_get(sc, "version"));
	return json_pack("{s:s?,s:s?}", "name", name, "version", version);
}

/* Counts a record and refuses past the batch limit. */
static int
next_record(struct walk *w, size_t *count)
{
	w->index = (*count)++;
	if (*count > JG_OTLP_MAX_RECORDS) {
		fail(w, "more than %d records in one batch", JG_OTLP_MAX_RECORDS);
		return JG_ETOOBIG;
	}
	return 0;
}

/* ---- logs ------------------------------------------------------------------ */

static const char *const severity_names[] = {
    "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE",  "SEVERITY_NUMBER_TRACE2",
    "SEVERITY_NUMBER_TRACE3",	   "SEVERITY_NUMBER_TRACE4", "SEVERITY_NUMBER_DEBUG",
    "SEVERITY_NUMBER_DEBUG2",	   "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
    "SEVERITY_NUMBER_INFO",	   "SEVERITY_NUMBER_INFO2",  "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",	   "SEVERITY_NUMBER_WARN",   "SEVERITY_NUMBER_WARN2",
    "SEVERITY_NUMBER_WARN3",	   "SEVERITY_NUMBER_WARN4",  "SEVERITY_NUMBER_ERROR",
    "SEVERITY_NUMBER_ERROR2",	   "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
    "SEVERITY_NUMBER_FATAL",	   "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
};

/* A level word (JSON Lines, or an OTLP record with only severityText) -> number. */
static int
severity_of_text(const char *t)
{
	static const struct {
		const char *name;
		int sev;
	} map[] = {{"trace", 1},   {"debug", 5},  {"info", 9},	    {"information", 9},
		   {"notice", 10}, {"warn", 13},  {"warning", 13},  {"error", 17},
		   {"err", 17},	   {"fatal", 21}, {"critical", 21}, {"crit", 21},
		   {"panic", 21},  {"alert", 22}, {"emergency", 23}};
	for (size_t i = 0; t && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(t, map[i].name) == 0)
			return map[i].sev;
	return 0;
}

static int
log_record(struct walk *w, json_t *lr, json_t *resource, json_t *scope, int64_t now_ns,
	   json_t **out)
{
	int64_t t, obs, sev_n;
	int sev;
	json_t *body = NULL, *attrs = NULL, *tid = NULL, *sid = NULL;
	char why[200];

	*out = NULL;
	if (!json_is_object(lr))
		return fail(w, "a log record must be an object");
	if (uint_of(field(lr, "observedTimeUnixNano", "observed_time_unix_nano"), 0, &obs) != 0)
		return fail(w, "observedTimeUnixNano must be an unsigned 64-bit integer");
	if (uint_of(field(lr, "timeUnixNano", "time_unix_nano"), 0, &t) != 0)
		return fail(w, "timeUnixNano must be an unsigned 64-bit integer");
	if (t == 0)
		t = obs ? obs : now_ns;
	if (obs == 0)
		obs = now_ns;
	if (enum_of(field(lr, "severityNumber", "severity_number"), severity_names, 25, 0, &sev) !=
	    0)
		return fail(w, "severityNumber must be 0 to 24 or its name");
	json_t *stext = field(lr, "severityText", "severity_text");
	if (stext != NULL && (!json_is_string(stext) || json_string_length(stext) > 64))
		return fail(w, "severityText must be a string of at most 64 bytes");
	sev_n = sev != 0 ? sev : severity_of_text(json_string_value(stext));
	if (any_value(field(lr, "body", NULL), 0, &body, why, sizeof(why)) != 0)
		return fail(w, "body: %s", why);
	if (attributes_of(field(lr, "attributes", NULL), 0, &attrs, why, sizeof(why)) != 0) {
		json_decref(body);
		return fail(w, "%s", why);
	}
	if (hex_id(field(lr, "traceId", "trace_id"), 32, &tid) != 0 ||
	    hex_id(field(lr, "spanId", "span_id"), 16, &sid) != 0) {
		json_decref(body);
		json_decref(attrs);
		json_decref(tid);
		return fail(w, "traceId must be 32 and spanId 16 hex digits (or empty)");
	}
	*out = json_pack("{s:I,s:I,s:I,s:O?,s:s,s:o,s:o,s:O,s:O,s:o,s:o}", "time_ns", (json_int_t)t,
			 "observed_ns", (json_int_t)obs, "severity_number", (json_int_t)sev_n,
			 "severity_text", stext, "level", jg_otlp_level(sev_n), "body", body,
			 "attributes", attrs, "resource", resource, "scope", scope, "trace_id", tid,
			 "span_id", sid);
	return *out ? 0 : JG_ENOMEM;
}

int
jg_otlp_logs(json_t *doc, const char *service, int64_t now_ns, json_t **out,
	     struct jg_otlp_error *err)
{
	struct walk w = {.err = err, .service = service};
	json_t *rl_list, *records = json_array();
	size_t count = 0, i, j, k;
	json_t *rl, *sl, *lr;
	int rc = 0;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (records == NULL)
		return JG_ENOMEM;
	snprintf(w.path, sizeof(w.path), "resourceLogs");
	if (!json_is_object(doc)) {
		rc = fail(&w, "the body must be an ExportLogsServiceRequest object");
		goto out;
	}
	if ((rc = list_of(&w, doc, "resourceLogs", "resource_logs", &rl_list)) != 0)
		goto out;
	json_array_foreach(rl_list, i, rl)
	{
		json_t *resource = NULL, *sl_list;
		snprintf(w.path, sizeof(w.path), "resourceLogs[%zu]", i);
		w.index = count;
		if (!json_is_object(rl) || (rc = resource_of(&w, rl, &resource)) != 0 ||
		    (rc = list_of(&w, rl, "scopeLogs", "scope_logs", &sl_list)) != 0) {
			if (rc == 0)
				rc = fail(&w, "a resourceLogs entry must be an object");
			json_decref(resource);
			goto out;
		}
		json_array_foreach(sl_list, j, sl)
		{
			json_t *lr_list, *scope;
			snprintf(w.path, sizeof(w.path), "resourceLogs[%zu].scopeLogs[%zu]", i, j);
			if (!json_is_object(sl) ||
			    (rc = list_of(&w, sl, "logRecords", "log_records", &lr_list)) != 0) {
				if (rc == 0)
					rc = fail(&w, "a scopeLogs entry must be an object");
				json_decref(resource);
				goto out;
			}
			scope = scope_of(sl);
			json_array_foreach(lr_list, k, lr)
			{
				json_t *rec;
				snprintf(w.path, sizeof(w.path),
					 "resourceLogs[%zu].scopeLogs[%zu].logRecords[%zu]", i, j,
					 k);
				if ((rc = next_record(&w, &count)) != 0 ||
				    (rc = log_record(&w, lr, resource, scope, now_ns, &rec)) != 0) {
					json_decref(scope);
					json_decref(resource);
					goto out;
				}
				json_array_append_new(records, rec);
			}
			json_decref(scope);
		}
		json_decref(resource);
	}
out:
	if (rc != 0) {
		json_decref(records);
		return rc;
	}
	*out = records;
	return 0;
}

/* ---- JSON Lines logs ------------------------------------------------------- */

/* A JSON Lines time: RFC 3339 text or a number whose magnitude says its unit. A time whose
   nanoseconds do not fit int64 (after 2262-04-11) is refused: scaled, it would overflow (undefined
   behaviour) and wrap to a negative time no cursor can page past. */
static int
line_time(json_t *v, int64_t *ns)
{
	if (json_is_string(v))
		return jg_otlp_parse_rfc3339(json_string_value(v), ns);
	if (!json_is_number(v))
		return JG_EINVAL;
	double d = json_number_value(v);
	if (!(d > 0) || d > 9.2e18)
		return JG_EINVAL;
	/* integers exactly (a double has 53 bits: microseconds would lose some) */
	if (json_is_integer(v)) {
		int64_t n = json_integer_value(v);
		int64_t unit = n >= 100000000000000000LL ? 1
			       : n >= 100000000000000LL	 ? 1000
			       : n >= 100000000000LL	 ? 1000000
							 : 1000000000;
		if (n > INT64_MAX / unit)
			return JG_EINVAL;
		*ns = n * unit;
		return 0;
	}
	double scaled = d >= 1e17 ? d : d >= 1e14 ? d * 1e3 : d >= 1e11 ? d * 1e6 : d * 1e9;
	if (!(scaled < 9223372036854775808.0)) /* 2^63: a larger double has no int64 value */
		return JG_EINVAL;
	*ns = (int64_t)scaled;
	return 0;
}

/* True when v nests objects/arrays deeper than limit (a flat object is 1). */
static bool
too_deep(json_t *v, int limit)
{
	const char *k;
	size_t i;
	json_t *c;

	if (!json_is_object(v) && !json_is_array(v))
		return false;
	if (limit == 0)
		return true;
	if (json_is_object(v)) {
		json_object_foreach(v, k, c)
		{
			if (too_deep(c, limit - 1))
				return true;
		}
	} else {
		json_array_foreach(v, i, c)
		{
			if (too_deep(c, limit - 1))
				return true;
		}
	}
	return false;
}

static int
line_record(struct walk *w, json_t *obj, json_t *resource, int64_t now_ns, json_t **out)
{
	static const char *const time_keys[] = {"time", "timestamp", "ts"};
	static const char *const level_keys[] = {"level", "severity"};
	static const char *const msg_keys[] = {"message", "msg", "body"};
	json_t *attrs = json_object(), *body = NULL, *tid = NULL, *sid = NULL, *v;
	const char *level = NULL, *key;
	int64_t t = now_ns;

	*out = NULL;
	if (attrs == NULL)
		return JG_ENOMEM;
	/* the same bound as OTLP values (and well within what redaction walks) */
	if (too_deep(obj, JG_OTLP_MAX_DEPTH + 1)) {
		json_decref(attrs);
		return fail(w, "values nest deeper than %d levels", JG_OTLP_MAX_DEPTH);
	}
	for (size_t i = 0; i < 3; i++) {
		if ((v = json_object_get(obj, time_keys[i])) != NULL) {
			if (line_time(v, &t) != 0) {
				json_decref(attrs);
				return fail(
				    w, "'%s' must be RFC 3339 text or a Unix time (1970 to 2262)",
				    time_keys[i]);
			}
			break;
		}
	}
	for (size_t i = 0; i < 2 && level == NULL; i++) {
		if ((v = json_object_get(obj, level_keys[i])) != NULL &&
		    (level = json_string_value(v)) == NULL) {
			json_decref(attrs);
			return fail(w, "'%s' must be a string", level_keys[i]);
		}
	}
	for (size_t i = 0; i < 3 && body == NULL; i++)
		if ((v = json_object_get(obj, msg_keys[i])) != NULL)
			body = json_incref(v);
	if (hex_id(json_object_get(obj, "trace_id"), 32, &tid) != 0 ||
	    hex_id(json_object_get(obj, "span_id"), 16, &sid) != 0) {
		json_decref(attrs);
		json_decref(body);
		json_decref(tid);
		return fail(w, "trace_id must be 32 and span_id 16 hex digits");
	}
	v = json_object_get(obj, "service");
	if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), w->service) != 0)) {
		json_decref(attrs);
		json_decref(body);
		json_decref(tid);
		json_decref(sid);
		return fail(w, "'service' is not this ingest key's service '%s'", w->service);
	}
	json_object_foreach(obj, key, v)
	{
		int known = strcmp(key, "trace_id") == 0 || strcmp(key, "span_id") == 0 ||
			    strcmp(key, "service") == 0;
		for (size_t i = 0; i < 3; i++)
			known |= strcmp(key, time_keys[i]) == 0 || strcmp(key, msg_keys[i]) == 0;
		for (size_t i = 0; i < 2; i++)
			known |= strcmp(key, level_keys[i]) == 0;
		if (known)
			continue;
		if (strcmp(key, "attributes") == 0 && json_is_object(v))
			json_object_update(attrs, v);
		else
			json_object_set(attrs, key, v);
	}
	if (json_object_size(attrs) > JG_OTLP_MAX_ATTRIBUTES) {
		json_decref(attrs);
		json_decref(body);
		json_decref(tid);
		json_decref(sid);
		return fail(w, "more than %d fields", JG_OTLP_MAX_ATTRIBUTES);
	}
	int sev = severity_of_text(level);
	*out =
	    json_pack("{s:I,s:I,s:I,s:s?,s:s,s:o,s:o,s:O,s:{s:s,s:n},s:o,s:o}", "time_ns",
		      (json_int_t)t, "observed_ns", (json_int_t)now_ns, "severity_number",
		      (json_int_t)sev, "severity_text", level, "level", jg_otlp_level(sev), "body",
		      body ? body : json_null(), "attributes", attrs, "resource", resource, "scope",
		      "name", "jsonl", "version", "trace_id", tid, "span_id", sid);
	return *out ? 0 : JG_ENOMEM;
}

int
jg_otlp_logs_ndjson(const char *body, size_t len, const char *service, int64_t now_ns, json_t **out,
		    struct jg_otlp_error *err)
{
	struct walk w = {.err = err, .service = service};
	json_t *records = json_array(), *resource = json_pack("{s:s}", "service.name", service);
	size_t count = 0, line = 0, pos = 0;
	int rc = 0;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (records == NULL || resource == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	while (pos < len) {
		const char *start = body + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		pos += n + (nl ? 1 : 0);
		line++;
		size_t blank = 0;
		while (blank < n && isspace((unsigned char)start[blank]))
			blank++;
		if (blank == n)
			continue;
		snprintf(w.path, sizeof(w.path), "line %zu", line);
		if ((rc = next_record(&w, &count)) != 0)
			goto out;
		if (n > JG_OTLP_MAX_LINE) {
			rc = fail(&w, "a line may be at most %d bytes", JG_OTLP_MAX_LINE);
			goto out;
		}
		json_error_t jerr;
		json_t *obj = json_loadb(start, n, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(obj)) {
			json_decref(obj);
			rc = fail(&w, "each line must be one JSON object");
			goto out;
		}
		json_t *rec;
		rc = line_record(&w, obj, resource, now_ns, &rec);
		json_decref(obj);
		if (rc != 0)
			goto out;
		json_array_append_new(records, rec);
	}
	if (count == 0) {
		snprintf(w.path, sizeof(w.path), "line 1");
		rc = fail(&w, "no records: send one JSON object per line");
	}
out:
	json_decref(resource);
	if (rc != 0) {
		json_decref(records);
		return rc;
	}
	*out = records;
	return 0;
}

/* ---- traces ---------------------------------------------------------------- */

static const char *const kind_names[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
					 "SPAN_KIND_SERVER",	  "SPAN_KIND_CLIENT",
					 "SPAN_KIND_PRODUCER",	  "SPAN_KIND_CONSUMER"};
static const char *const kind_words[] = {"unspecified", "internal", "server",
					 "client",	"producer", "consumer"};
static const char *const status_names[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
					   "STATUS_CODE_ERROR"};
static const char *const status_words[] = {"unset", "ok", "error"};

/* A scalar attribute as text for error_code; NULL when absent or not scalar. */
static json_t *
code_text(json_t *v)
{
	char buf[32];
	if (json_is_string(v) && json_string_length(v) > 0)
		return json_incref(v);
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return json_string(buf);
	}
	return NULL;
}

static json_t *
error_code_of(json_t *attrs, json_t *events, int failed)
{
	json_t *c = code_text(json_object_get(attrs, "error.type"));
	if (c != NULL || !failed)
		return c;
	static const char *const keys[] = {"rpc.grpc.status_code", "http.response.status_code",
					   "http.status_code", "db.response.status_code"};
	for (size_t i = 0; i < 4; i++)
		if ((c = code_text(json_object_get(attrs, keys[i]))) != NULL)
			return c;
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "name")), "exception") == 0 &&
		    (c = code_text(json_object_get(json_object_get(e, "attributes"),
						   "exception.type"))) != NULL)
			return c;
	}
	return NULL;
}

/* A span's events; one without a time is put at the span's start. */
static int
span_events(struct walk *w, json_t *list, int64_t start, json_t **out)
{
	size_t i;
	json_t *e;
	char why[200];

	*out = json_array();
	if (*out == NULL)
		return JG_ENOMEM;
	if (list == NULL)
		return 0;
	if (!json_is_array(list) || json_array_size(list) > JG_OTLP_MAX_EVENTS) {
		json_decref(*out);
		*out = NULL;
		return fail(w, "events must be a list of at most %d events", JG_OTLP_MAX_EVENTS);
	}
	json_array_foreach(list, i, e)
	{
		int64_t t;
		json_t *attrs;
		const char *name = json_string_value(json_object_get(e, "name"));
		if (!json_is_object(e) || name == NULL ||
		    uint_of(field(e, "timeUnixNano", "time_unix_nano"), start, &t) != 0) {
			json_decref(*out);
			*out = NULL;
			return fail(w, "events[%zu] needs a name (and an unsigned timeUnixNano)",
				    i);
		}
		if (attributes_of(field(e, "attributes", NULL), 0, &attrs, why, sizeof(why)) != 0) {
			json_decref(*out);
			*out = NULL;
			return fail(w, "events[%zu]: %s", i, why);
		}
		json_array_append_new(*out, json_pack("{s:s,s:I,s:o}", "name", name, "time_ns",
						      (json_int_t)t, "attributes", attrs));
	}
	return 0;
}

static int
span_of(struct walk *w, json_t *sp, json_t *resource, json_t **out)
{
	json_t *tid = NULL, *sid = NULL, *pid = NULL, *attrs = NULL, *events = NULL;
	int64_t start, end;
	int kind, code;
	char why[200];
	int rc;

	*out = NULL;
	if (!json_is_object(sp))
		return fail(w, "a span must be an object");
	if (hex_id(field(sp, "traceId", "trace_id"), 32, &tid) != 0 || json_is_null(tid)) {
		json_decref(tid);
		return fail(w, "traceId must be 32 hex digits, not all zero");
	}
	if (hex_id(field(sp, "spanId", "span_id"), 16, &sid) != 0 || json_is_null(sid)) {
		rc = fail(w, "spanId must be 16 hex digits, not all zero");
		goto out;
	}
	if (hex_id(field(sp, "parentSpanId", "parent_span_id"), 16, &pid) != 0) {
		rc = fail(w, "parentSpanId must be 16 hex digits or empty");
		goto out;
	}
	const char *name = json_string_value(json_object_get(sp, "name"));
	if (name == NULL || *name == '\0' || strlen(name) > 1024) {
		rc = fail(w, "a span needs a name of 1 to 1024 bytes");
		goto out;
	}
	if (uint_of(field(sp, "startTimeUnixNano", "start_time_unix_nano"), -1, &start) != 0 ||
	    uint_of(field(sp, "endTimeUnixNano", "end_time_unix_nano"), -1, &end) != 0) {
		rc =
		    fail(w, "startTimeUnixNano and endTimeUnixNano are required unsigned integers");
		goto out;
	}
	if (end < start) {
		rc = fail(w, "endTimeUnixNano is before startTimeUnixNano");
		goto out;
	}
	if (enum_of(field(sp, "kind", NULL), kind_names, 6, 0, &kind) != 0) {
		rc = fail(w, "kind must be 0 to 5 or its name");
		goto out;
	}
	json_t *status = field(sp, "status", NULL);
	if (status != NULL && !json_is_object(status)) {
		rc = fail(w, "status must be an object");
		goto out;
	}
	if (enum_of(field(status, "code", NULL), status_names, 3, 0, &code) != 0) {
		rc = fail(w, "status.code must be 0 to 2 or its name");
		goto out;
	}
	json_t *msg = field(status, "message", NULL);
	if (msg != NULL && !json_is_string(msg)) {
		rc = fail(w, "status.message must be a string");
		goto out;
	}
	if (attributes_of(field(sp, "attributes", NULL), 0, &attrs, why, sizeof(why)) != 0) {
		rc = fail(w, "%s", why);
		goto out;
	}
	if ((rc = span_events(w, field(sp, "events", NULL), start, &events)) != 0)
		goto out;
	json_t *inst = json_object_get(resource, "service.instance.id");
	if (!json_is_string(inst))
		inst = json_object_get(resource, "host.name");
	if (!json_is_string(inst))
		inst = json_object_get(resource, "service.name");
	json_t *version = json_object_get(resource, "service.version");
	json_t *ecode = error_code_of(attrs, events, code == 2);
	*out = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:s,s:s,s:I,s:I,s:s,s:O,s:o,s:O,s:O}",
			 "trace_id", tid, "span_id", sid, "parent_span_id", pid, "service",
			 json_object_get(resource, "service.name"), "service_version",
			 json_is_string(version) ? version : json_null(), "instance", inst, "name",
			 name, "kind", kind_words[kind], "start_ns", (json_int_t)start, "end_ns",
			 (json_int_t)end, "status", status_words[code], "error",
			 code == 2 && msg && json_string_length(msg) > 0 ? msg : json_null(),
			 "error_code", ecode ? ecode : json_null(), "attributes", attrs, "events",
			 events);
	rc = *out ? 0 : JG_ENOMEM;
out:
	json_decref(tid);
	json_decref(sid);
	json_decref(pid);
	json_decref(attrs);
	json_decref(events);
	return rc;
}

int
jg_otlp_spans(json_t *doc, const char *service, json_t **out, struct jg_otlp_error *err)
{
	struct walk w = {.err = err, .service = service};
	json_t *rs_list, *spans = json_array();
	size_t count = 0, i, j, k;
	json_t *rs, *ss, *sp;
	int rc = 0;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (spans == NULL)
		return JG_ENOMEM;
	snprintf(w.path, sizeof(w.path), "resourceSpans");
	if (!json_is_object(doc)) {
		rc = fail(&w, "the body must be an ExportTraceServiceRequest object");
		goto out;
	}
	if ((rc = list_of(&w, doc, "resourceSpans", "resource_spans", &rs_list)) != 0)
		goto out;
	json_array_foreach(rs_list, i, rs)
	{
		json_t *resource = NULL, *ss_list;
		snprintf(w.path, sizeof(w.path), "resourceSpans[%zu]", i);
		w.index = count;
		if (!json_is_object(rs) || (rc = resource_of(&w, rs, &resource)) != 0 ||
		    (rc = list_of(&w, rs, "scopeSpans", "scope_spans", &ss_list)) != 0) {
			if (rc == 0)
				rc = fail(&w, "a resourceSpans entry must be an object");
			json_decref(resource);
			goto out;
		}
		json_array_foreach(ss_list, j, ss)
		{
			json_t *sp_list;
			snprintf(w.path, sizeof(w.path), "resourceSpans[%zu].scopeSpans[%zu]", i,
				 j);
			if (!json_is_object(ss) ||
			    (rc = list_of(&w, ss, "spans", NULL, &sp_list)) != 0) {
				if (rc == 0)
					rc = fail(&w, "a scopeSpans entry must be an object");
				json_decref(resource);
				goto out;
			}
			json_array_foreach(sp_list, k, sp)
			{
				json_t *s;
				snprintf(w.path, sizeof(w.path),
					 "resourceSpans[%zu].scopeSpans[%zu].spans[%zu]", i, j, k);
				if ((rc = next_record(&w, &count)) != 0 ||
				    (rc = span_of(&w, sp, resource, &s)) != 0) {
					json_decref(resource);
					goto out;
				}
				json_array_append_new(spans, s);
			}
		}
		json_decref(resource);
	}
out:
	if (rc != 0) {
		json_decref(spans);
		return rc;
	}
	*out = spans;
	return 0;
}

/* ---- metrics --------------------------------------------------------------- */

static const char *const temporality_names[] = {"AGGREGATION_TEMPORALITY_UNSPECIFIED",
						"AGGREGATION_TEMPORALITY_DELTA",
						"AGGREGATION_TEMPORALITY_CUMULATIVE"};
static const char *const temporality_words[] = {"unspecified", "delta", "cumulative"};

struct metric_ctx {
	const char *name, *unit, *description, *kind, *temporality;
	int monotonic;
	json_t *resource;
};

static int
histogram_of(struct walk *w, json_t *dp, json_t **out)
{
	int64_t count, n;
	json_t *bounds = field(dp, "explicitBounds", "explicit_bounds");
	json_t *counts = field(dp, "bucketCounts", "bucket_counts");
	json_t *b = json_array(), *c = json_array(), *v;
	size_t i;

	*out = NULL;
	if (uint_of(field(dp, "count", NULL), 0, &count) != 0)
		goto bad;
	if ((bounds && !json_is_array(bounds)) || (counts && !json_is_array(counts)) ||
	    json_array_size(bounds) > JG_OTLP_MAX_BUCKETS ||
	    (json_array_size(counts) != 0 &&
	     json_array_size(counts) != json_array_size(bounds) + 1))
		goto bad;
	double prev = -INFINITY;
	json_array_foreach(bounds, i, v)
	{
		double d;
		int isnum;
		if (double_of(v, &d, &isnum) != 0 || !isnum || d <= prev)
			goto bad;
		prev = d;
		json_array_append_new(b, json_real(d));
	}
	int64_t total = 0;
	json_array_foreach(counts, i, v)
	{
		if (uint_of(v, 0, &n) != 0 || n > INT64_MAX - total)
			goto bad;
		total += n;
		json_array_append_new(c, json_integer(n));
	}
	if (json_array_size(counts) != 0 && total != count)
		goto bad;
	*out = json_pack("{s:I,s:n,s:n,s:n,s:o,s:o}", "count", (json_int_t)count, "sum", "min",
			 "max", "bounds", b, "counts", c);
	static const char *const opt[] = {"sum", "min", "max"};
	for (size_t k = 0; k < 3; k++) {
		double d;
		int isnum;
		if ((v = field(dp, opt[k], NULL)) == NULL)
			continue;
		if (double_of(v, &d, &isnum) != 0) {
			json_decref(*out);
			*out = NULL;
			return fail(w, "histogram %s must be a number", opt[k]);
		}
		if (isnum)
			json_object_set_new(*out, opt[k], json_real(d));
	}
	return 0;
bad:
	json_decref(b);
	json_decref(c);
	return fail(w, "a histogram point needs count, increasing explicitBounds and one more "
		       "bucketCounts than bounds, adding up to count");
}

static int
data_point(struct walk *w, const struct metric_ctx *m, json_t *dp, json_t **out)
{
	int64_t start, t;
	json_t *series, *inst;
	char why[200];

	*out = NULL;
	if (!json_is_object(dp))
		return fail(w, "a data point must be an object");
	if (uint_of(field(dp, "startTimeUnixNano", "start_time_unix_nano"), 0, &start) != 0 ||
	    uint_of(field(dp, "timeUnixNano", "time_unix_nano"), -1, &t) != 0)
		return fail(w, "timeUnixNano is required (unsigned), startTimeUnixNano unsigned");
	if (attributes_of(field(dp, "attributes", NULL), 0, &series, why, sizeof(why)) != 0)
		return fail(w, "%s", why);
	inst = json_object_get(m->resource, "service.instance.id");
	if (json_is_string(inst) && json_object_get(series, "service.instance.id") == NULL)
		json_object_set(series, "service.instance.id", inst);
	json_t *pt = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:I,s:I}", "name", m->name, "kind",
			       m->kind, "unit", m->unit, "description", m->description,
			       "temporality", m->temporality, "monotonic", m->monotonic, "series",
			       series, "start_ns", (json_int_t)start, "time_ns", (json_int_t)t);
	if (pt == NULL)
		return JG_ENOMEM;
	if (strcmp(m->kind, "histogram") == 0) {
		json_t *h;
		int rc = histogram_of(w, dp, &h);
		if (rc != 0) {
			json_decref(pt);
			return rc;
		}
		json_object_set_new(pt, "histogram", h);
	} else {
		json_t *dv = field(dp, "asDouble", "as_double"), *iv = field(dp, "asInt", "as_int");
		double d = 0;
		int isnum = 1;
		int64_t n;
		if (dv != NULL) {
			if (double_of(dv, &d, &isnum) != 0) {
				json_decref(pt);
				return fail(w, "asDouble must be a number");
			}
		} else if (iv != NULL) {
			if (int64_of(iv, 0, &n) != 0) {
				json_decref(pt);
				return fail(w, "asInt must be a 64-bit integer");
			}
			d = (double)n;
		} else {
			json_decref(pt);
			return fail(w, "a number data point needs asDouble or asInt");
		}
		json_object_set_new(pt, "value", isnum ? json_real(d) : json_null());
	}
	*out = pt;
	return 0;
}

static int
metric_of(struct walk *w, json_t *metric, json_t *resource, json_t *points, size_t *count,
	  size_t *skipped, const char *base)
{
	struct metric_ctx m = {.resource = resource, .unit = "", .description = ""};
	json_t *data = NULL, *v, *list, *dp;
	size_t i;
	int t = 0, rc;

	if (!json_is_object(metric))
		return fail(w, "a metric must be an object");
	m.name = json_string_value(json_object_get(metric, "name"));
	if (m.name == NULL || *m.name == '\0' || strlen(m.name) > 255)
		return fail(w, "a metric needs a name of 1 to 255 bytes");
	if ((v = json_object_get(metric, "unit")) != NULL &&
	    (m.unit = json_string_value(v)) == NULL)
		return fail(w, "unit must be a string");
	if ((v = json_object_get(metric, "description")) != NULL &&
	    (m.description = json_string_value(v)) == NULL)
		return fail(w, "description must be a string");
	if ((data = field(metric, "gauge", NULL)) != NULL) {
		m.kind = "gauge";
	} else if ((data = field(metric, "sum", NULL)) != NULL) {
		m.kind = "sum";
		m.monotonic = json_is_true(field(data, "isMonotonic", "is_monotonic"));
	} else if ((data = field(metric, "histogram", NULL)) != NULL) {
		m.kind = "histogram";
	} else if ((data = field(metric, "exponentialHistogram", "exponential_histogram")) !=
		       NULL ||
		   (data = field(metric, "summary", NULL)) != NULL) {
		*skipped += json_array_size(field(data, "dataPoints", "data_points"));
		return 0;
	} else {
		return 0; /* a metric without data: nothing to store */
	}
	if (!json_is_object(data))
		return fail(w, "the %s of a metric must be an object", m.kind);
	if (strcmp(m.kind, "gauge") != 0 &&
	    enum_of(field(data, "aggregationTemporality", "aggregation_temporality"),
		    temporality_names, 3, 0, &t) != 0)
		return fail(w, "aggregationTemporality must be 0 to 2 or its name");
	m.temporality = temporality_words[t];
	if ((rc = list_of(w, data, "dataPoints", "data_points", &list)) != 0)
		return rc;
	json_array_foreach(list, i, dp)
	{
		json_t *pt;
		snprintf(w->path, sizeof(w->path), "%.150s.dataPoints[%zu]", base, i);
		if ((rc = next_record(w, count)) != 0 || (rc = data_point(w, &m, dp, &pt)) != 0)
			return rc;
		json_array_append_new(points, pt);
	}
	return 0;
}

int
jg_otlp_metrics(json_t *doc, const char *service, json_t **out, size_t *skipped,
		struct jg_otlp_error *err)
{
	struct walk w = {.err = err, .service = service};
	json_t *rm_list, *points = json_array();
	size_t count = 0, i, j, k;
	json_t *rm, *sm, *metric;
	int rc = 0;

	*out = NULL;
	*skipped = 0;
	memset(err, 0, sizeof(*err));
	if (points == NULL)
		return JG_ENOMEM;
	snprintf(w.path, sizeof(w.path), "resourceMetrics");
	if (!json_is_object(doc)) {
		rc = fail(&w, "the body must be an ExportMetricsServiceRequest object");
		goto out;
	}
	if ((rc = list_of(&w, doc, "resourceMetrics", "resource_metrics", &rm_list)) != 0)
		goto out;
	json_array_foreach(rm_list, i, rm)
	{
		json_t *resource = NULL, *sm_list;
		snprintf(w.path, sizeof(w.path), "resourceMetrics[%zu]", i);
		w.index = count;
		if (!json_is_object(rm) || (rc = resource_of(&w, rm, &resource)) != 0 ||
		    (rc = list_of(&w, rm, "scopeMetrics", "scope_metrics", &sm_list)) != 0) {
			if (rc == 0)
				rc = fail(&w, "a resourceMetrics entry must be an object");
			json_decref(resource);
			goto out;
		}
		json_array_foreach(sm_list, j, sm)
		{
			json_t *m_list;
			snprintf(w.path, sizeof(w.path), "resourceMetrics[%zu].scopeMetrics[%zu]",
				 i, j);
			if (!json_is_object(sm) ||
			    (rc = list_of(&w, sm, "metrics", NULL, &m_list)) != 0) {
				if (rc == 0)
					rc = fail(&w, "a scopeMetrics entry must be an object");
				json_decref(resource);
				goto out;
			}
			json_array_foreach(m_list, k, metric)
			{
				char base[128];
				snprintf(base, sizeof(base),
					 "resourceMetrics[%zu].scopeMetrics[%zu].metrics[%zu]", i,
					 j, k);
				snprintf(w.path, sizeof(w.path), "%s", base);
				w.index = count;
				rc = metric_of(&w, metric, resource, points, &count, skipped, base);
				if (rc != 0) {
					json_decref(resource);
					goto out;
				}
			}
		}
		json_decref(resource);
	}
out:
	if (rc != 0) {
		json_decref(points);
		return rc;
	}
	*out = points;
	return 0;
}
