/*
 * parse.c - bounded decimal integers, and RFC 3339 times (see parse.h).
 *
 * The digits are checked here, then strtoll/strtoull convert them with
 * errno watched: the C library does the arithmetic, this file decides
 * what text is a number.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- RFC 3339 ------------------------------------------------------------------ */

static int
digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int
jg_parse_rfc3339(const char *s, int64_t *ns)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, zh = 0, zm = 0, sign = 0;
	int64_t frac = 0;
	const char *p = s;

	if (s == NULL || strlen(s) > 64 || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return JG_EINVAL;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return JG_EINVAL;
	if (*p == '.') {
		int n = 0;
		p++;
		while (isdigit((unsigned char)*p)) {
			if (n < 9) {
				frac = frac * 10 + (*p - '0');
				n++;
			}
			p++;
		}
		if (n == 0)
			return JG_EINVAL;
		for (; n < 9; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (digits(&p, 2, &zh) || *p++ != ':' || digits(&p, 2, &zm) || zh > 23 || zm > 59)
			return JG_EINVAL;
	} else {
		return JG_EINVAL;
	}
	if (*p != '\0' || y < 1970 || y > 2500 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return JG_EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d) /* 31 February */
		return JG_EINVAL;
	t -= sign * (zh * 3600 + zm * 60);
	if (t < 0 || t > (INT64_MAX - 999999999) / 1000000000) /* int64 ns end in 2262 */
		return JG_EINVAL;
	*ns = (int64_t)t * 1000000000 + frac;
	return 0;
}
