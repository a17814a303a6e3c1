/*
 * backoff.c - exponential backoff with jitter (see backoff.h).  Pure: the
 * caller supplies the random draw, so the schedule is testable exactly.
 */
#include "jitgate/backoff.h"

int64_t
jg_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, uint32_t rnd)
{
	int64_t d = base_ms > 0 ? base_ms : 1;
	for (int i = 1; i < attempt && d < max_ms; i++)
		d *= 2; /* stops once past the cap, so it cannot overflow */
	if (d > max_ms)
		d = max_ms;
	int64_t jitter = (int64_t)(((uint64_t)(d / 4) * rnd) / UINT32_MAX);
	d -= jitter;
	return d < 1 ? 1 : d;
}
