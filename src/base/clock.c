/*
 * clock.c - the wall clock that never runs backward (see clock.h).
 *
 * One pair (wall, monotonic) taken at the last reading where the wall
 * clock was not behind: the time now is that wall time plus the monotonic
 * time elapsed since, or the wall clock when it is later (then the pair is
 * taken again).
 */
#include <pthread.h>

#include "jitgate/clock.h"

static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t base_wall_ms, base_mono_ms;
static int have_base;

static int64_t
system_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The source of readings: the system's clocks unless a test set another (under clock_lock). */
static int64_t (*read_ms)(clockid_t id) = system_ms;

void
jg_clock_set_source(int64_t (*fn)(clockid_t id))
{
	pthread_mutex_lock(&clock_lock);
	read_ms = fn != NULL ? fn : system_ms;
	have_base = 0;
	pthread_mutex_unlock(&clock_lock);
}

/* Called with clock_lock held. */
static int64_t
now_locked(int64_t wall, int64_t mono)
{
	if (!have_base) {
		base_wall_ms = wall;
		base_mono_ms = mono;
		have_base = 1;
	}
	int64_t est = base_wall_ms + (mono - base_mono_ms);
	if (wall >= est) {
		base_wall_ms = wall;
		base_mono_ms = mono;
		return wall;
	}
	return est;
}

int64_t
jg_clock_now_ms(void)
{
	pthread_mutex_lock(&clock_lock);
	int64_t now = now_locked(read_ms(CLOCK_REALTIME), read_ms(CLOCK_MONOTONIC));
	pthread_mutex_unlock(&clock_lock);
	return now;
}

int64_t
jg_clock_now(void)
{
	return jg_clock_now_ms() / 1000;
}

void
jg_clock_floor_ms(int64_t floor_ms)
{
	pthread_mutex_lock(&clock_lock);
	int64_t mono = read_ms(CLOCK_MONOTONIC);
	if (now_locked(read_ms(CLOCK_REALTIME), mono) < floor_ms) {
		base_wall_ms = floor_ms;
		base_mono_ms = mono;
	}
	pthread_mutex_unlock(&clock_lock);
}

int
jg_clock_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);
	if (rc != 0)
		return rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

void
jg_clock_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
