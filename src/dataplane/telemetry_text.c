/*
 * telemetry_text.c - what a reader without read-pii may see of a log record
 * or a span (redact.h plus the configured sensitive field names), and the
 * full-text search text of a log record, as sent and as redacted.
 */
#include <stdlib.h>
#include <string.h>

#include "jitgate/redact.h"
#include "telemetry_int.h"

#define MAX_SEARCH_TEXT (256 * 1024) /* bytes of one record's search text */

static size_t
nfields(char *const *fields)
{
	size_t n = 0;
	while (fields && fields[n])
		n++;
	return n;
}

int
jg_telemetry_redact_json(json_t *holder, char *const *fields, unsigned *found)
{
	return jg_redact_json(holder, (const char *const *)fields, nfields(fields), found);
}

/* Redacts the string member key of obj as free text (not as a value of a sensitive key). */
static int
redact_member_text(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	char *out;
	size_t outlen;
	if (!json_is_string(v))
		return 0;
	int rc = jg_redact_text(json_string_value(v), json_string_length(v), &out, &outlen, NULL);
	if (rc != 0)
		return rc;
	rc = json_object_set_new(obj, key, json_stringn(out, outlen)) == 0 ? 0 : JG_ENOMEM;
	free(out);
	return rc;
}

/* Redacts obj[key] (any JSON) through a holder object, so strings and scalars work too. */
static int
redact_member(json_t *obj, const char *key, char *const *fields)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return redact_member_text(obj, key);
	json_t *holder = json_array();
	if (holder == NULL || json_array_append(holder, v) != 0) {
		json_decref(holder);
		return JG_ENOMEM;
	}
	int rc = jg_telemetry_redact_json(holder, fields, NULL);
	if (rc == 0)
		rc = json_object_set(obj, key, json_array_get(holder, 0)) == 0 ? 0 : JG_ENOMEM;
	json_decref(holder);
	return rc;
}

int
jg_telemetry_redact_log(json_t *record, char *const *fields)
{
	int rc = redact_member(record, "body", fields);
	if (rc == 0)
		rc = redact_member(record, "attributes", fields);
	if (rc == 0)
		rc = redact_member(record, "resource", fields);
	if (rc == 0)
		rc = redact_member_text(record, "severity_text");
	return rc;
}

int
jg_telemetry_redact_span(json_t *span, char *const *fields)
{
	int rc = redact_member_text(span, "name");
	if (rc == 0)
		rc = redact_member_text(span, "error");
	if (rc == 0)
		rc = redact_member(span, "attributes", fields);
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(span, "events"), i, e)
	{
		if (rc == 0)
			rc = redact_member_text(e, "name");
		if (rc == 0)
			rc = redact_member(e, "attributes", fields);
	}
	return rc;
}

/* Appends text to a growing buffer, bounded by MAX_SEARCH_TEXT (the rest is not indexed). */
struct text {
	char *buf;
	size_t len, cap;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
	if (t->buf == NULL || t->len + n + 2 > MAX_SEARCH_TEXT)
		return;
	if (t->len + n + 2 > t->cap) {
		size_t cap = t->cap;
		while (cap < t->len + n + 2)
			cap *= 2;
		char *grown = realloc(t->buf, cap);
		if (grown == NULL)
			return;
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len++] = ' ';
	t->buf[t->len] = '\0';
}

static void
text_value(struct text *t, json_t *v)
{
	if (json_is_string(v)) {
		text_add(t, json_string_value(v), json_string_length(v));
	} else if (v != NULL && !json_is_null(v)) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s != NULL)
			text_add(t, s, strlen(s));
		free(s);
	}
}

char *
jg_telemetry_log_text(json_t *record, char *const *fields)
{
	struct text t = {.buf = malloc(1024), .cap = 1024};
	json_t *copy = NULL, *rec = record, *v;
	const char *k;

	if (t.buf == NULL)
		return NULL;
	t.buf[0] = '\0';
	if (fields != NULL) {
		copy = json_pack("{s:O*,s:O*}", "body", json_object_get(record, "body"),
				 "attributes", json_object_get(record, "attributes"));
		if (copy == NULL || redact_member(copy, "body", fields) != 0 ||
		    redact_member(copy, "attributes", fields) != 0) {
			json_decref(copy);
			free(t.buf);
			return NULL; /* fail closed: no redacted text, no index row */
		}
		rec = copy;
	}
	text_value(&t, json_object_get(rec, "body"));
	json_object_foreach(json_object_get(rec, "attributes"), k, v)
	{
		text_add(&t, k, strlen(k));
		text_value(&t, v);
	}
	json_decref(copy);
	return t.buf;
}
