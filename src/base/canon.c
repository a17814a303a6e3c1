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

/* ---- text that may not be UTF-8 ------------------------------------------------ */

size_t
jg_utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t v, min;
	size_t n;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, v = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, v = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, v = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

bool
jg_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n)
		if ((n = jg_utf8_next(p + i, len - i, &cp)) == 0)
			return false;
	return true;
}

json_t *
jg_canon_string_escaped(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strnlen(s, max), o = 0;
	char *out = malloc(4 * len + 1); /* \xHH: at most four bytes for one */
	uint32_t cp;

	if (out == NULL)
		return NULL;
	for (size_t i = 0, n; i < len; i += n) {
		if ((n = jg_utf8_next(p + i, len - i, &cp)) == 0) {
			snprintf(out + o, 5, "\\x%02X", p[i]);
			o += 4, n = 1;
		} else if (cp == '\\') {
			out[o++] = '\\', out[o++] = '\\';
		} else {
			memcpy(out + o, p + i, n);
			o += n;
		}
	}
	out[o] = '\0';
	json_t *v = json_stringn(out, o);
	free(out);
	return v;
}
