/*
 * test_thread.c - the background-thread primitive (thread.h): ticks at the
 * delay each returns, a wake that runs the next tick now (and is not lost
 * while a tick runs), a thread that sleeps until woken, and a stop that
 * ends a long sleep at once and lets no tick start after it.  The clock the
 * sleeps run on is tested by test_clock_step.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitgate/thread.h"

struct counter {
	pthread_mutex_t m;
	pthread_cond_t c;
	int ticks;
	int64_t next;	/* what the tick returns */
	int hold;	/* the tick waits until the test clears it (a long tick) */
	int in_tick;	/* a tick is running */
	int after_stop; /* ticks counted once the test asked for stop */
	int stopped;
};

static void
counter_init(struct counter *c, int64_t next)
{
	*c = (struct counter){.next = next};
	assert_int_equal(pthread_mutex_init(&c->m, NULL), 0);
	assert_int_equal(pthread_cond_init(&c->c, NULL), 0);
}

static void
counter_destroy(struct counter *c)
{
	pthread_mutex_destroy(&c->m);
	pthread_cond_destroy(&c->c);
}

static int64_t
tick(void *arg)
{
	struct counter *c = arg;
	pthread_mutex_lock(&c->m);
	c->ticks++;
	c->in_tick = 1;
	if (c->stopped)
		c->after_stop++;
	pthread_cond_broadcast(&c->c);
	while (c->hold)
		pthread_cond_wait(&c->c, &c->m);
	c->in_tick = 0;
	int64_t next = c->next;
	pthread_mutex_unlock(&c->m);
	return next;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to ms for at least n ticks; returns the count then. */
static int
wait_ticks(struct counter *c, int n, int64_t ms)
{
	int64_t until = mono_ms() + ms;
	pthread_mutex_lock(&c->m);
	while (c->ticks < n && mono_ms() < until) {
		pthread_mutex_unlock(&c->m);
		usleep(5000);
		pthread_mutex_lock(&c->m);
	}
	int got = c->ticks;
	pthread_mutex_unlock(&c->m);
	return got;
}

static int
ticks_of(struct counter *c)
{
	pthread_mutex_lock(&c->m);
	int n = c->ticks;
	pthread_mutex_unlock(&c->m);
	return n;
}

/* The first tick after first_ms, the next ones at the delay the tick returned. */
static void
test_thread_ticks_at_returned_delay(void **state)
{
	struct counter c;
	struct jg_thread *t = NULL;
	(void)state;

	counter_init(&c, 10);
	int64_t start = mono_ms();
	assert_int_equal(jg_thread_start(&t, "test-ticks", 0, tick, &c), 0);
	assert_non_null(t);
	assert_true(wait_ticks(&c, 5, 5000) >= 5);
	/* five ticks 10 ms apart: at least 40 ms */
	assert_true(mono_ms() - start >= 40);
	jg_thread_stop(t);
	counter_destroy(&c);
}

/* A wake ends a long sleep (the first one, then one the tick asked for) at once. */
static void
test_thread_wake_runs_next_tick_now(void **state)
{
	struct counter c;
	struct jg_thread *t = NULL;
	(void)state;

	counter_init(&c, 60000);
	assert_int_equal(jg_thread_start(&t, "test-wake", 60000, tick, &c), 0);
	usleep(20000);
	assert_int_equal(ticks_of(&c), 0); /* still in its first minute */
	jg_thread_wake(t);
	assert_int_equal(wait_ticks(&c, 1, 2000), 1);
	jg_thread_wake(t);
	assert_int_equal(wait_ticks(&c, 2, 2000), 2);
	usleep(20000);
	assert_int_equal(ticks_of(&c), 2); /* one wake, one tick */
	jg_thread_stop(t);
	counter_destroy(&c);
}

/* A wake during a tick is kept: the sleep after that tick is skipped. */
static void
test_thread_wake_during_tick_not_lost(void **state)
{
	struct counter c;
	struct jg_thread *t = NULL;
	(void)state;

	counter_init(&c, JG_THREAD_UNTIL_WOKEN);
	c.hold = 1;
	assert_int_equal(jg_thread_start(&t, "test-lost", 0, tick, &c), 0);
	assert_int_equal(wait_ticks(&c, 1, 2000), 1); /* the first tick runs, and is held */
	jg_thread_wake(t);			      /* while it runs */
	pthread_mutex_lock(&c.m);
	c.hold = 0;
	pthread_cond_broadcast(&c.c);
	pthread_mutex_unlock(&c.m);
	assert_int_equal(wait_ticks(&c, 2, 2000), 2);
	usleep(20000);
	assert_int_equal(ticks_of(&c), 2); /* and then it sleeps until woken again */
	jg_thread_stop(t);
	counter_destroy(&c);
}

/* JG_THREAD_UNTIL_WOKEN: no tick at all without a wake. */
static void
test_thread_until_woken(void **state)
{
	struct counter c;
	struct jg_thread *t = NULL;
	(void)state;

	counter_init(&c, JG_THREAD_UNTIL_WOKEN);
	assert_int_equal(jg_thread_start(&t, "test-idle", JG_THREAD_UNTIL_WOKEN, tick, &c), 0);
	usleep(50000);
	assert_int_equal(ticks_of(&c), 0);
	jg_thread_wake(t);
	assert_int_equal(wait_ticks(&c, 1, 2000), 1);
	usleep(50000);
	assert_int_equal(ticks_of(&c), 1);
	jg_thread_stop(t);
	counter_destroy(&c);
}

/* Stop ends an hour's sleep at once, and no tick starts after it. */
static void
test_thread_stop_ends_sleep(void **state)
{
	struct counter c;
	struct jg_thread *t = NULL;
	(void)state;

	counter_init(&c, 3600000);
	assert_int_equal(jg_thread_start(&t, "test-stop", 0, tick, &c), 0);
	assert_int_equal(wait_ticks(&c, 1, 2000), 1);
	pthread_mutex_lock(&c.m);
	c.stopped = 1;
	pthread_mutex_unlock(&c.m);
	int64_t start = mono_ms();
	jg_thread_stop(t);
	assert_true(mono_ms() - start < 1000);
	assert_int_equal(c.after_stop, 0);
	jg_thread_stop(NULL); /* a no-op */
	jg_thread_wake(NULL);
	counter_destroy(&c);
}

/* A thread that ticks back to back (0 ms) still stops, after the tick in progress. */
static void
test_thread_stop_busy(void **state)
{
	struct counter c;
	struct jg_thread *t = NULL;
	(void)state;

	counter_init(&c, 0);
	assert_int_equal(jg_thread_start(&t, "test-busy", 0, tick, &c), 0);
	assert_true(wait_ticks(&c, 100, 5000) >= 100);
	jg_thread_stop(t);
	int n = ticks_of(&c);
	usleep(20000);
	assert_int_equal(ticks_of(&c), n);
	assert_int_equal(c.in_tick, 0);
	counter_destroy(&c);
}

/*
 * Two threads in ticks that do not end by themselves: asking both to stop
 * returns at once (it does not wait for a tick), and no tick starts after.
 */
static void
test_thread_signal_stop_together(void **state)
{
	struct counter a, b;
	struct jg_thread *ta = NULL, *tb = NULL;
	(void)state;

	counter_init(&a, 3600000);
	counter_init(&b, 3600000);
	a.hold = b.hold = 1;
	assert_int_equal(jg_thread_start(&ta, "test-a", 0, tick, &a), 0);
	assert_int_equal(jg_thread_start(&tb, "test-b", 0, tick, &b), 0);
	assert_int_equal(wait_ticks(&a, 1, 2000), 1);
	assert_int_equal(wait_ticks(&b, 1, 2000), 1);
	jg_thread_signal_stop(ta);
	jg_thread_signal_stop(tb);
	/* returned with both ticks still held; released, both threads end with no further tick */
	pthread_mutex_lock(&a.m);
	a.hold = 0;
	a.stopped = 1;
	pthread_cond_broadcast(&a.c);
	pthread_mutex_unlock(&a.m);
	pthread_mutex_lock(&b.m);
	b.hold = 0;
	b.stopped = 1;
	pthread_cond_broadcast(&b.c);
	pthread_mutex_unlock(&b.m);
	jg_thread_stop(ta);
	jg_thread_stop(tb);
	assert_int_equal(a.after_stop + b.after_stop, 0);
	jg_thread_signal_stop(NULL);
	counter_destroy(&a);
	counter_destroy(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_thread_ticks_at_returned_delay),
	    cmocka_unit_test(test_thread_wake_runs_next_tick_now),
	    cmocka_unit_test(test_thread_wake_during_tick_not_lost),
	    cmocka_unit_test(test_thread_until_woken),
	    cmocka_unit_test(test_thread_stop_ends_sleep),
	    cmocka_unit_test(test_thread_stop_busy),
	    cmocka_unit_test(test_thread_signal_stop_together),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
