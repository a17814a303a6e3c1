/*
 * canon.c - canonical JSON encode and check (see canon.h).
 *
 * The check is parse, walk, re-encode, compare: jansson is the parser and
 * the encoder, so the canonical form is by construction exactly what an
 * entry was written as.  The walk rejects what a byte comparison alone
 * would let through: reals ("1.0" re-encodes to itself) and non-ASCII keys.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/canon.h"
#include "jitgate/error.h"

#define CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
#define MAX_DEPTH   32

static bool
ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Returns NULL when v is allowed, else the reason. */
static const char *
walk(const json_t *v, int depth)
{
	const char *key, *why;
	size_t i;
	json_t *child;

	if (depth > MAX_DEPTH)
		return "nested too deeply";
	switch (json_typeof(v)) {
	case JSON_REAL: return "numbers must be integers";
	case JSON_STRING:
		/* jansson would write "\u0000", which its parser (and so the check) refuses. */
		if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
			return "strings must not contain NUL";
		return NULL;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, child)
		{
			if (json_object_iter_key_len(json_object_key_to_iter(key)) != strlen(key))
				return "object keys must not contain NUL";
			if (!ascii(key))
				return "object keys must be ASCII";
			if ((why = walk(child, depth + 1)) != NULL)
				return why;
		}
		return NULL;
	case JSON_ARRAY:
		json_array_foreach(v, i, child)
		{
			if ((why = walk(child, depth + 1)) != NULL)
				return why;
		}
		return NULL;
	default: return NULL;
	}
}

int
jg_canon_encode(const json_t *v, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (walk(v, 0) != NULL)
		return JG_EINVAL;
	char *text = json_dumps(v, CANON_FLAGS);
	if (text == NULL)
		return JG_ENOMEM;
	*out = text;
	*len = strlen(text);
	return 0;
}

int
jg_canon_check(const char *buf, size_t len, json_t **out, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *doc;
	const char *bad;
	char *again = NULL;
	size_t again_len;

	if (out)
		*out = NULL;
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		snprintf(why, whylen, "not JSON: %s (column %d)", jerr.text, jerr.column);
		return JG_EPARSE;
	}
	if ((bad = walk(doc, 0)) != NULL) {
		snprintf(why, whylen, "not canonical: %s", bad);
		json_decref(doc);
		return JG_EPARSE;
	}
	/* walked above: encode directly, into a stack buffer when it fits */
	char small[1024];
	again_len = json_dumpb(doc, small, sizeof(small), CANON_FLAGS);
	if (again_len > sizeof(small)) {
		again = json_dumps(doc, CANON_FLAGS);
		again_len = again ? strlen(again) : 0;
	}
	const char *cmp = again ? again : small;
	if (again_len == 0 || again_len != len || memcmp(cmp, buf, len) != 0) {
		snprintf(why, whylen,
			 "not canonical: key order, whitespace, escapes or number form "
			 "differ from the canonical encoding");
		free(again);
		json_decref(doc);
		return JG_EPARSE;
	}
	free(again);
	if (out)
		*out = doc;
	else
		json_decref(doc);
	return 0;
}
