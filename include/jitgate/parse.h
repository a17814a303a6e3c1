/*
 * parse.h - bounded decimal integers, strtonum-style; RFC 3339 times.
 *
 * One way to read a number a user, a peer or a file wrote: decimal digits
 * only (an optional leading '-' for the signed form), nothing before or
 * after them - no blanks, no '+', no "0x" - and a value inside [min, max].
 * A value too large for the type (strtoll's ERANGE) is refused like any
 * other out-of-range value, never clamped.  Leading zeros are accepted
 * ("007" is 7): callers that need one spelling per value check for them.
 */
#ifndef JITGATE_PARSE_H
#define JITGATE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * s (NUL-terminated) as a decimal in [min, max] into *out.  0, or JG_EINVAL
 * (NULL, empty, any character other than the digits, out of range); *out
 * is left untouched on failure.
 */
int jg_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
    __attribute__((warn_unused_result));
int jg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
    __attribute__((warn_unused_result));

/* The same for the len characters at s (no NUL needed). */
int jg_parse_i64n(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
    __attribute__((warn_unused_result));

/*
 * RFC 3339 text ("2026-11-25T10:00:00Z", "…T10:00:00.123456789+01:00"; at
 * most 64 bytes, years 1970-2262) into Unix nanoseconds.  0 or JG_EINVAL.
 */
int jg_parse_rfc3339(const char *s, int64_t *ns) __attribute__((warn_unused_result));

#endif
