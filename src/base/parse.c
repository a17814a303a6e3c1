/*
 * parse.c - bounded decimal integers (see parse.h).
 *
 * The digits are checked here, then strtoll/strtoull convert them with
 * errno watched: the C library does the arithmetic, this file decides
 * what text is a number.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/parse.h"

#define MAX_DIGITS 40 /* more than any 64-bit value has: longer is out of range */

/* Whether s[0..len) is 1 or more decimal digits, after a '-' when neg_ok. */
static bool
decimal(const char *s, size_t len, bool neg_ok)
{
	size_t i = neg_ok && len > 0 && s[0] == '-' ? 1 : 0;
	if (i == len)
		return false;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int
jg_parse_i64n(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
	char buf[MAX_DIGITS + 1], *end;
	long long v;

	if (s == NULL || len > MAX_DIGITS || !decimal(s, len, true))
		return JG_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return JG_EINVAL;
	*out = v;
	return 0;
}

int
jg_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	return s == NULL ? JG_EINVAL : jg_parse_i64n(s, strnlen(s, MAX_DIGITS + 1), min, max, out);
}

int
jg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	size_t len = s ? strnlen(s, MAX_DIGITS + 1) : 0;

	if (s == NULL || len > MAX_DIGITS || !decimal(s, len, false))
		return JG_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return JG_EINVAL;
	*out = v;
	return 0;
}
