/*
 * telemetry_time.c - the times and durations of telemetry queries, and
 * times as the readers show them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/otlp.h"
#include "jitgate/parse.h"
#include "telemetry_int.h"

int
jg_telemetry_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *suffix;
		int64_t ns;
	} units[] = {{"ms", 1000000LL},	     {"s", 1000000000LL},     {"m", 60000000000LL},
		     {"h", 3600000000000LL}, {"d", 86400000000000LL}, {"", 1000000LL}};
	int64_t n;

	if (s == NULL || strlen(s) > 20)
		return JG_EINVAL;
	/* the digits, then nothing or a unit */
	size_t digits = strspn(s, "0123456789");
	const char *end = s + digits;
	if (jg_parse_i64n(s, digits, 0, INT64_MAX, &n) != 0)
		return JG_EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (n > INT64_MAX / units[i].ns)
				return JG_EINVAL;
			*ns = n * units[i].ns;
			return 0;
		}
	}
	return JG_EINVAL;
}

int
jg_telemetry_parse_time(const char *s, int64_t now, int64_t *ns)
{
	int64_t d, secs;

	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return JG_EINVAL;
	/* a bare number: Unix seconds */
	if (strspn(s, "0123456789") == strlen(s)) {
		if (jg_parse_i64(s, 0, INT64_MAX / 1000000000LL, &secs) != 0)
			return JG_EINVAL;
		*ns = secs * 1000000000LL;
		return 0;
	}
	/* a duration before now ("ms" alone would be ambiguous with minutes: allowed) */
	if (isdigit((unsigned char)s[0]) && strchr(s, '-') == NULL && strchr(s, ':') == NULL) {
		if (jg_telemetry_parse_duration(s, &d) != 0 || strspn(s, "0123456789") == strlen(s))
			return JG_EINVAL;
		*ns = now * 1000000000LL - d;
		return *ns >= 0 ? 0 : JG_EINVAL;
	}
	return jg_otlp_parse_rfc3339(s, ns);
}

void
jg_telemetry_time_text(int64_t ns, char out[JG_TELEMETRY_TIME_TEXT])
{
	time_t secs = (time_t)(ns / 1000000000LL);
	struct tm tm;
	char base[32];
	if (ns < 0 || gmtime_r(&secs, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, JG_TELEMETRY_TIME_TEXT, "1970-01-01T00:00:00.000000000Z");
		return;
	}
	snprintf(out, JG_TELEMETRY_TIME_TEXT, "%.20s.%09lldZ", base,
		 (long long)(ns % 1000000000LL));
}

json_t *
jg_telemetry_ns_string(int64_t ns)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", (long long)ns);
	return json_string(buf);
}
