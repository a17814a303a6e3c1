/*
 * test_clock.c - jitgate's time follows the wall clock but never goes back.
 *
 * The wall clock itself cannot be stepped from a unit test (the e2e test
 * tests/e2e/faults.test.mjs does that with libfaketime); here: readings never
 * decrease, a floor ahead of the wall clock is kept and keeps advancing with
 * real time, a floor behind it changes nothing, and monotonic deadlines wait
 * as long as asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "jitgate/clock.h"

static int64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
readings_never_decrease(void **state)
{
	(void)state;
	int64_t prev = jg_clock_now_ms();
	for (int i = 0; i < 100000; i++) {
		int64_t now = jg_clock_now_ms();
		assert_true(now >= prev);
		prev = now;
	}
	assert_int_equal(jg_clock_now(), jg_clock_now_ms() / 1000);
}

static void
a_floor_behind_changes_nothing(void **state)
{
	(void)state;
	int64_t before = jg_clock_now_ms();
	jg_clock_floor_ms(before - 60000);
	int64_t now = jg_clock_now_ms();
	assert_true(now >= before && now - wall_ms() < 50);
}

/* Runs last: the floor ahead stays for the rest of the process. */
static void
a_floor_ahead_holds_and_advances(void **state)
{
	(void)state;
	int64_t floor =
	    wall_ms() + 3600 * 1000; /* as if the wall clock had been stepped back an hour */
	jg_clock_floor_ms(floor);
	int64_t a = jg_clock_now_ms();
	assert_true(a >= floor && a < floor + 50);
	struct timespec pause = {.tv_nsec = 200 * 1000000L};
	nanosleep(&pause, NULL);
	int64_t b = jg_clock_now_ms();
	assert_true(b - a >= 190 && b - a < 400); /* real time passes on the monotonic clock */
}

static void
monotonic_deadline_waits(void **state)
{
	(void)state;
	pthread_cond_t c;
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	struct timespec until, t0, t1;

	assert_int_equal(jg_clock_cond_init(&c), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	jg_clock_deadline(&until, 120);
	pthread_mutex_lock(&m);
	while (pthread_cond_timedwait(&c, &m, &until) == 0)
		;
	pthread_mutex_unlock(&m);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 115 && ms < 1000);
	pthread_cond_destroy(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(readings_never_decrease),
	    cmocka_unit_test(a_floor_behind_changes_nothing),
	    cmocka_unit_test(monotonic_deadline_waits),
	    cmocka_unit_test(a_floor_ahead_holds_and_advances),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
