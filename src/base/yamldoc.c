/*
 * yamldoc.c - libyaml events to a jansson tree with a path -> line map.
 *
 * A small recursive descent over yaml_parser_parse() events: a mapping
 * becomes an object, a sequence an array, a scalar a string or (when plain
 * and it reads as one) an integer, boolean or null.  Every node records the
 * line of its start mark under its path.  Anything that could make a small
 * file expand (aliases) or confuse a reader (tags, duplicate keys) is an
 * error with the line where it occurs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/parse.h"
#include "jitgate/yamldoc.h"

#define MAX_DEPTH 32
#define MAX_PATH  512

struct walker {
	yaml_parser_t parser;
	struct jg_yamldoc *doc;
	const char *name;
	char *err;
	size_t errlen;
};

static int
fail(struct walker *w, size_t line0, const char *reason)
{
	snprintf(w->err, w->errlen, "%s:%zu: %s", w->name, line0 + 1, reason);
	return JG_EPARSE;
}

static int
next_event(struct walker *w, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&w->parser, ev)) {
		snprintf(w->err, w->errlen, "%s:%zu: %s", w->name, w->parser.problem_mark.line + 1,
			 w->parser.problem ? w->parser.problem : "invalid YAML");
		return JG_EPARSE;
	}
	return 0;
}

/* YAML 1.2 core schema for plain scalars: int, bool, null; else string. */
static json_t *
scalar_value(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(s, len);
	if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0)
		return json_null();
	if (strcmp(s, "true") == 0)
		return json_true();
	if (strcmp(s, "false") == 0)
		return json_false();
	/* an integer: an optional sign, digits without a leading zero, in range */
	const char *p = s + (*s == '-' || *s == '+');
	int64_t v;
	if (*p >= '0' && *p <= '9' && (p[0] != '0' || p[1] == '\0') &&
	    jg_parse_i64(*s == '+' ? p : s, INT64_MIN, INT64_MAX, &v) == 0)
		return json_integer(v);
	return json_stringn(s, len);
}

static int parse_node(struct walker *w, yaml_event_t *ev, const char *path, int depth,
		      json_t **out);

static void
record_line(struct walker *w, const char *path, size_t line0)
{
	json_object_set_new(w->doc->lines, path, json_integer((json_int_t)line0 + 1));
}

static int
parse_mapping(struct walker *w, const char *path, int depth, json_t **out)
{
	json_t *obj = json_object();
	yaml_event_t ev;
	int rc;

	if (obj == NULL)
		return JG_ENOMEM;
	for (;;) {
		if ((rc = next_event(w, &ev)) != 0)
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			rc = fail(w, ev.start_mark.line, "mapping keys must be plain strings");
			yaml_event_delete(&ev);
			goto fail;
		}
		char key[256];
		if (ev.data.scalar.length >= sizeof(key) ||
		    memchr(ev.data.scalar.value, '\0', ev.data.scalar.length) != NULL) {
			rc = fail(w, ev.start_mark.line, "mapping key too long or invalid");
			yaml_event_delete(&ev);
			goto fail;
		}
		memcpy(key, ev.data.scalar.value, ev.data.scalar.length + 1);
		size_t key_line = ev.start_mark.line;
		yaml_event_delete(&ev);
		if (json_object_get(obj, key) != NULL) {
			char msg[320];
			snprintf(msg, sizeof(msg), "duplicate key '%s'", key);
			rc = fail(w, key_line, msg);
			goto fail;
		}
		char child[MAX_PATH];
		int n = snprintf(child, sizeof(child), "%s%s%s", path, *path ? "." : "", key);
		if (n < 0 || (size_t)n >= sizeof(child)) {
			rc = fail(w, key_line, "path too long");
			goto fail;
		}
		json_t *value = NULL;
		if ((rc = next_event(w, &ev)) != 0)
			goto fail;
		rc = parse_node(w, &ev, child, depth + 1, &value);
		if (rc != 0)
			goto fail;
		record_line(w, child, key_line);
		json_object_set_new(obj, key, value);
	}
	*out = obj;
	return 0;
fail:
	json_decref(obj);
	return rc;
}

static int
parse_sequence(struct walker *w, const char *path, int depth, json_t **out)
{
	json_t *arr = json_array();
	yaml_event_t ev;
	int rc;

	if (arr == NULL)
		return JG_ENOMEM;
	for (size_t i = 0;; i++) {
		if ((rc = next_event(w, &ev)) != 0)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		char child[MAX_PATH];
		int n = snprintf(child, sizeof(child), "%s[%zu]", path, i);
		if (n < 0 || (size_t)n >= sizeof(child)) {
			yaml_event_delete(&ev);
			rc = fail(w, w->parser.mark.line, "path too long");
			goto fail;
		}
		json_t *value = NULL;
		rc = parse_node(w, &ev, child, depth + 1, &value);
		if (rc != 0)
			goto fail;
		json_array_append_new(arr, value);
	}
	*out = arr;
	return 0;
fail:
	json_decref(arr);
	return rc;
}

/* Consumes ev (already read) and whatever belongs to its node. */
static int
parse_node(struct walker *w, yaml_event_t *ev, const char *path, int depth, json_t **out)
{
	size_t line0 = ev->start_mark.line;
	int rc;

	if (depth > MAX_DEPTH) {
		yaml_event_delete(ev);
		return fail(w, line0, "nesting too deep");
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		yaml_event_delete(ev);
		return fail(w, line0, "aliases are not allowed");
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor != NULL || ev->data.scalar.tag != NULL) {
			yaml_event_delete(ev);
			return fail(w, line0, "anchors and tags are not allowed");
		}
		*out = scalar_value(ev);
		yaml_event_delete(ev);
		record_line(w, path, line0);
		return *out ? 0 : JG_ENOMEM;
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor != NULL || ev->data.mapping_start.tag != NULL) {
			yaml_event_delete(ev);
			return fail(w, line0, "anchors and tags are not allowed");
		}
		yaml_event_delete(ev);
		rc = parse_mapping(w, path, depth, out);
		break;
	case YAML_SEQUENCE_START_EVENT:
		if (ev->data.sequence_start.anchor != NULL || ev->data.sequence_start.tag != NULL) {
			yaml_event_delete(ev);
			return fail(w, line0, "anchors and tags are not allowed");
		}
		yaml_event_delete(ev);
		rc = parse_sequence(w, path, depth, out);
		break;
	default: yaml_event_delete(ev); return fail(w, line0, "unexpected YAML event");
	}
	if (rc == 0)
		record_line(w, path, line0);
	return rc;
}

int
jg_yamldoc_parse(const char *buf, size_t len, const char *name, struct jg_yamldoc **out, char *err,
		 size_t errlen)
{
	struct walker w = {.name = name, .err = err, .errlen = errlen};
	yaml_event_t ev;
	int rc = JG_EPARSE;
	json_t *root = NULL;

	*out = NULL;
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: file contains a NUL byte", name);
		return JG_EPARSE;
	}
	w.doc = calloc(1, sizeof(*w.doc));
	if (w.doc == NULL || (w.doc->lines = json_object()) == NULL) {
		free(w.doc);
		return JG_ENOMEM;
	}
	if (!yaml_parser_initialize(&w.parser)) {
		json_decref(w.doc->lines);
		free(w.doc);
		return JG_ENOMEM;
	}
	yaml_parser_set_input_string(&w.parser, (const unsigned char *)buf, len);

	/* STREAM-START, then either STREAM-END (empty) or one document. */
	if ((rc = next_event(&w, &ev)) != 0)
		goto out;
	yaml_event_delete(&ev);
	if ((rc = next_event(&w, &ev)) != 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		root = json_object();
		goto done;
	}
	yaml_event_delete(&ev); /* DOCUMENT-START */
	if ((rc = next_event(&w, &ev)) != 0)
		goto out;
	if ((rc = parse_node(&w, &ev, "", 0, &root)) != 0)
		goto out;
	if ((rc = next_event(&w, &ev)) != 0) /* DOCUMENT-END */
		goto out;
	yaml_event_delete(&ev);
	if ((rc = next_event(&w, &ev)) != 0)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT) {
		rc = fail(&w, ev.start_mark.line, "only one YAML document is allowed");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
done:
	if (json_is_null(root)) { /* a file of only comments */
		json_decref(root);
		root = json_object();
	}
	w.doc->root = root;
	root = NULL;
	*out = w.doc;
	w.doc = NULL;
	rc = 0;
out:
	yaml_parser_delete(&w.parser);
	json_decref(root);
	jg_yamldoc_free(w.doc);
	return rc;
}

int
jg_yamldoc_load(const char *path, size_t max_bytes, struct jg_yamldoc **out, char *err,
		size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	*out = NULL;
	rc = jg_file_read(path, max_bytes, false, &buf, &len, err, errlen);
	if (rc != 0)
		return rc;
	rc = jg_yamldoc_parse(buf, len, path, out, err, errlen);
	free(buf);
	return rc;
}

int
jg_yamldoc_line(const struct jg_yamldoc *doc, const char *path)
{
	json_t *v = json_object_get(doc->lines, path);
	return v ? (int)json_integer_value(v) : 0;
}

void
jg_yamldoc_free(struct jg_yamldoc *doc)
{
	if (doc == NULL)
		return;
	json_decref(doc->root);
	json_decref(doc->lines);
	free(doc);
}
