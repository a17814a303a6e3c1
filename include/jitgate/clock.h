/*
 * clock.h - jitgate's time: the wall clock, but never running backward.
 *
 * Grant, token and session lifetimes are judged against this clock.  A
 * wall clock stepped back (a wrong NTP server, a VM restored, a host that
 * boots with its RTC reset) would otherwise hand a grant the time it had
 * already used once more.  So jitgate's time follows the wall clock while it
 * moves forward, and while the wall clock is behind jitgate's last reading
 * it advances with CLOCK_MONOTONIC instead, until the wall clock catches
 * up.  A step forward is followed at once: grants then end early, never
 * late.  At start-up `serve` raises the floor to the newest audit entry's
 * time, so a restart during a step back does not reset it.
 *
 * The provider's tokens are judged against the plain wall clock (oidc.c):
 * their times come from the provider's clock, not from jitgate's.
 *
 * Timed waits use CLOCK_MONOTONIC (jg_clock_cond_init, jg_clock_deadline),
 * so a step of the wall clock never stretches a one-second wait into hours.
 *
 * Thread-safe.
 */
#ifndef JITGATE_CLOCK_H
#define JITGATE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch, never less than an earlier reading. */
int64_t jg_clock_now_ms(void);

/* Seconds since the Unix epoch (jg_clock_now_ms() / 1000). */
int64_t jg_clock_now(void);

/* Raises the clock to at least floor_ms (no effect when it is already later). */
void jg_clock_floor_ms(int64_t floor_ms);

/*
 * Where the clock reads its time: fn(CLOCK_REALTIME) and
 * fn(CLOCK_MONOTONIC) in milliseconds.  For tests, which step a fake
 * wall clock by hand and assert exact readings; NULL restores the system's
 * clocks.  Either way the clock starts afresh: no earlier reading or floor
 * is kept.  Timed waits (below) always use the system's CLOCK_MONOTONIC.
 */
void jg_clock_set_source(int64_t (*fn)(clockid_t id));

/* Initialises c for waits against CLOCK_MONOTONIC.  Returns 0 or an errno value. */
int jg_clock_cond_init(pthread_cond_t *c);

/* *ts = CLOCK_MONOTONIC now + ms: a deadline for a condition from jg_clock_cond_init(). */
void jg_clock_deadline(struct timespec *ts, int64_t ms);

#endif
