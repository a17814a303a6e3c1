/*
 * test_clock.c - jitgate's time follows the wall clock but never goes back.
 *
 * The clock reads its wall and monotonic time through a source that a test
 * may replace (jg_clock_set_source): here a fake one that the test steps by
 * hand, so every reading is asserted exactly and nothing sleeps.  Checked:
 * the wall clock is followed forward at once; stepped back, time goes on
 * with the monotonic clock from where it was and rejoins the wall clock once
 * that is ahead again; a floor ahead holds and advances, a floor behind changes
 * nothing; seconds are the milliseconds truncated.  With the system's clocks:
 * readings never decrease, and a monotonic deadline is never reached early.
 * (tests/e2e/faults.test.mjs steps the real wall clock with libfaketime.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "jitgate/clock.h"

/* The fake clocks, in milliseconds. */
static int64_t fake_wall, fake_mono;

static int64_t
fake_read_ms(clockid_t id)
{
	return id == CLOCK_MONOTONIC ? fake_mono : fake_wall;
}

static int
use_fake(void **state)
{
	(void)state;
	fake_wall = 1795600800000; /* 2026-11-25T10:00:00Z */
	fake_mono = 5000;
	jg_clock_set_source(fake_read_ms);
	return 0;
}

static int
use_system(void **state)
{
	(void)state;
	jg_clock_set_source(NULL);
	return 0;
}

/* Both clocks move on by ms (real time passing). */
static void
pass_ms(int64_t ms)
{
	fake_wall += ms;
	fake_mono += ms;
}

static void
follows_the_wall_clock_forward(void **state)
{
	(void)state;
	assert_int_equal(jg_clock_now_ms(), 1795600800000);
	pass_ms(250);
	assert_int_equal(jg_clock_now_ms(), 1795600800250);
	fake_wall += 2 * 3600 * 1000; /* stepped forward two hours: followed at once */
	assert_int_equal(jg_clock_now_ms(), 1795608000250);
	assert_int_equal(jg_clock_now(), 1795608000);
}

static void
a_step_back_goes_on_monotonically_until_the_wall_is_ahead_again(void **state)
{
	(void)state;
	assert_int_equal(jg_clock_now_ms(), 1795600800000);
	fake_wall -= 25000; /* stepped back 25 s */
	assert_int_equal(jg_clock_now_ms(), 1795600800000);
	pass_ms(400);
	assert_int_equal(jg_clock_now_ms(), 1795600800400); /* monotonic time passes */
	assert_int_equal(jg_clock_now(), 1795600800);
	fake_wall += 24999; /* corrected, but to 1 ms behind where jitgate's time is */
	assert_int_equal(jg_clock_now_ms(), 1795600800400);
	fake_wall += 2; /* past it: the wall clock again */
	assert_int_equal(jg_clock_now_ms(), 1795600800401);
	pass_ms(5);
	assert_int_equal(jg_clock_now_ms(), 1795600800406);
}

static void
a_floor_ahead_holds_and_advances(void **state)
{
	(void)state;
	/* as if the newest audit entry were an hour ahead: the wall clock was stepped back */
	jg_clock_floor_ms(1795604400000);
	assert_int_equal(jg_clock_now_ms(), 1795604400000);
	pass_ms(200);
	assert_int_equal(jg_clock_now_ms(), 1795604400200);
	jg_clock_floor_ms(1795604400100); /* a lower floor later changes nothing */
	assert_int_equal(jg_clock_now_ms(), 1795604400200);
	fake_wall = 1795604400300; /* the wall clock is right again */
	fake_mono += 50;
	assert_int_equal(jg_clock_now_ms(), 1795604400300);
}

static void
a_floor_behind_changes_nothing(void **state)
{
	(void)state;
	jg_clock_floor_ms(1795600800000 - 60000);
	assert_int_equal(jg_clock_now_ms(), 1795600800000);
	pass_ms(10);
	assert_int_equal(jg_clock_now_ms(), 1795600800010);
}

static void
a_new_source_starts_afresh(void **state)
{
	(void)state;
	jg_clock_floor_ms(1795604400000);
	assert_int_equal(jg_clock_now_ms(), 1795604400000);
	jg_clock_set_source(fake_read_ms);
	assert_int_equal(jg_clock_now_ms(), 1795600800000);
}

static void
system_readings_never_decrease(void **state)
{
	(void)state;
	int64_t prev = jg_clock_now_ms();
	for (int i = 0; i < 100000; i++) {
		int64_t now = jg_clock_now_ms();
		assert_true(now >= prev);
		prev = now;
	}
	int64_t ms = jg_clock_now_ms(), s = jg_clock_now();
	assert_true(s == ms / 1000 || s == ms / 1000 + 1); /* a second may turn in between */
}

static int64_t
ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/*
 * The condition waits on CLOCK_MONOTONIC and the deadline is on the same
 * clock: the wait times out, and never before the deadline (POSIX).  A
 * condition on CLOCK_REALTIME would take the (much smaller) monotonic value
 * as a time long past and return at once.
 */
static void
monotonic_deadline_is_not_reached_early(void **state)
{
	(void)state;
	pthread_cond_t c;
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	struct timespec until, after;
	int rc;

	assert_int_equal(jg_clock_cond_init(&c), 0);
	jg_clock_deadline(&until, 20);
	pthread_mutex_lock(&m);
	while ((rc = pthread_cond_timedwait(&c, &m, &until)) == 0)
		;
	pthread_mutex_unlock(&m);
	assert_int_equal(rc, ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &after);
	assert_true(ns_of(&after) >= ns_of(&until));
	pthread_cond_destroy(&c);
}

/* A deadline is ms after a monotonic reading taken during the call, nanoseconds normalised. */
static void
deadline_is_ms_after_now(void **state)
{
	static const int64_t cases[] = {0, 1, 999, 1000, 1001, 1999, 60000, 86400000};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct timespec t0, until, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		jg_clock_deadline(&until, cases[i]);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_true(until.tv_nsec >= 0 && until.tv_nsec < 1000000000);
		int64_t at = ns_of(&until) - cases[i] * 1000000;
		if (at < ns_of(&t0) || at > ns_of(&t1))
			fail_msg("jg_clock_deadline(%lld) is not that long after the call",
				 (long long)cases[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(follows_the_wall_clock_forward, use_fake, use_system),
	    cmocka_unit_test_setup_teardown(
		a_step_back_goes_on_monotonically_until_the_wall_is_ahead_again, use_fake,
		use_system),
	    cmocka_unit_test_setup_teardown(a_floor_ahead_holds_and_advances, use_fake, use_system),
	    cmocka_unit_test_setup_teardown(a_floor_behind_changes_nothing, use_fake, use_system),
	    cmocka_unit_test_setup_teardown(a_new_source_starts_afresh, use_fake, use_system),
	    cmocka_unit_test(system_readings_never_decrease),
	    cmocka_unit_test(monotonic_deadline_is_not_reached_early),
	    cmocka_unit_test(deadline_is_ms_after_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
