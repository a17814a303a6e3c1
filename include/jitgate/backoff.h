/*
 * backoff.h - the delay before a retry: exponential, capped, with jitter.
 * Used wherever jitgate resends to a receiver that failed (notifications,
 * the audit stream), so every retry schedule has the same shape.
 */
#ifndef JITGATE_BACKOFF_H
#define JITGATE_BACKOFF_H

#include <stdint.h>

/*
 * The delay before retry number `attempt` (1 = the first retry):
 * base_ms * 2^(attempt-1), capped at max_ms, less up to a quarter of it
 * chosen by rnd (jitter, so receivers coming back are not hit by every
 * sender at once).  Never below 1 ms.
 */
int64_t jg_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, uint32_t rnd);

#endif
