/*
 * canon.h - canonical JSON: the exact bytes of an audit entry.
 *
 * Canonical form is what jansson writes with JSON_COMPACT | JSON_SORT_KEYS
 * (no whitespace, object keys sorted bytewise, UTF-8 strings unescaped
 * except for '"', '\\' and control characters; docs/audit-format.md lists
 * every escape), with three further rules: numbers are integers only, keys
 * are ASCII, and a document parses with no duplicate keys.  A byte string
 * is canonical when parsing it and encoding the result gives the same bytes.
 */
#ifndef JITGATE_CANON_H
#define JITGATE_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Encodes v canonically into *out (NUL-terminated, the caller frees) and its
 * length into *len.  Refuses reals and non-ASCII keys with JG_EINVAL.
 */
int jg_canon_encode(const json_t *v, char **out, size_t *len);

/*
 * Checks that buf[0..len) is canonical.  On success returns 0 and, when out
 * is not NULL, the parsed document (the caller decrefs).  On failure returns
 * JG_EPARSE and writes the reason to why (e.g. "not canonical: key order or
 * whitespace differs").
 */
int jg_canon_check(const char *buf, size_t len, json_t **out, char *why, size_t whylen);

/*
 * Decodes the UTF-8 sequence at s (len > 0 bytes left) into *cp.  Returns
 * its length, or 0 when it is not well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) - exactly what a JSON string
 * of an entry may hold.
 */
size_t jg_utf8_next(const unsigned char *s, size_t len, uint32_t *cp);

/* True when s[0..len) is well-formed UTF-8 throughout (jg_utf8_next()); NUL bytes count as text. */
bool jg_utf8_valid(const char *s, size_t len);

/*
 * A JSON string for bytes that need not be UTF-8 (raw input, such as a URL
 * path segment), so that an audit entry can still say what was asked: each
 * byte outside well-formed UTF-8 is written as the four characters \xHH
 * (upper-case hex) and each backslash as two, so the text reads back
 * unambiguously; UTF-8 text without a backslash is unchanged.  At most max
 * bytes of s are taken (a character cut there shows as \xHH bytes).  NULL
 * when out of memory; the caller decrefs.
 */
json_t *jg_canon_string_escaped(const char *s, size_t max);

#endif
