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

#include <stddef.h>

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

#endif
