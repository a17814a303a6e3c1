/*
 * test_ratelimit.c - token bucket arithmetic and the bounded table's eviction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "jitgate/ratelimit.h"

static void
test_ratelimit_new_refuses_zero(void **state)
{
	(void)state;
	assert_null(jg_ratelimit_new(0, 60, 5));
	assert_null(jg_ratelimit_new(16, 60, 0));
	struct jg_ratelimit *rl = jg_ratelimit_new(3, 60, 5);
	assert_non_null(rl);
	assert_int_equal(jg_ratelimit_capacity(rl), JG_RATELIMIT_WAYS); /* rounded up to one set */
	jg_ratelimit_free(rl);
	jg_ratelimit_free(NULL);
}

/* burst 5 at 60/min: five at once, the sixth waits one second, then one a second. */
static void
test_ratelimit_take_burst_then_refill(void **state)
{
	struct jg_ratelimit *rl = jg_ratelimit_new(64, 60, 5);
	int retry = -1;
	(void)state;

	for (int i = 0; i < 5; i++)
		assert_true(jg_ratelimit_take(rl, "ip:192.0.2.1", 1000, &retry));
	assert_int_equal(retry, 0);
	assert_false(jg_ratelimit_take(rl, "ip:192.0.2.1", 1000, &retry));
	assert_int_equal(retry, 1);
	/* a refused take costs nothing: still refused just before the second is up */
	assert_false(jg_ratelimit_take(rl, "ip:192.0.2.1", 1999, &retry));
	assert_int_equal(retry, 1);
	assert_true(jg_ratelimit_take(rl, "ip:192.0.2.1", 2000, &retry));
	assert_false(jg_ratelimit_take(rl, "ip:192.0.2.1", 2000, &retry));
	/* other keys have their own bucket */
	assert_true(jg_ratelimit_take(rl, "ip:192.0.2.2", 2000, &retry));
	/* after a long idle time the bucket is full again, no more */
	for (int i = 0; i < 5; i++)
		assert_true(jg_ratelimit_take(rl, "ip:192.0.2.1", 3600 * 1000, NULL));
	assert_false(jg_ratelimit_take(rl, "ip:192.0.2.1", 3600 * 1000, NULL));
	jg_ratelimit_free(rl);
}

/* per_minute 0: a cap per key that time never lifts. */
static void
test_ratelimit_no_refill_is_a_cap(void **state)
{
	struct jg_ratelimit *rl = jg_ratelimit_new(64, 0, 3);
	int retry = 0;
	(void)state;

	assert_non_null(rl);
	for (int i = 0; i < 3; i++)
		assert_true(jg_ratelimit_take(rl, "jti:a", (int64_t)i * 1000, &retry));
	assert_false(jg_ratelimit_take(rl, "jti:a", 3000, &retry));
	assert_int_equal(retry, 86400);
	/* a year later: still nothing */
	assert_false(jg_ratelimit_take(rl, "jti:a", INT64_C(365) * 86400 * 1000, NULL));
	assert_true(jg_ratelimit_take(rl, "jti:b", INT64_C(365) * 86400 * 1000, NULL));
	jg_ratelimit_free(rl);
}

/* Slow rates: Retry-After in whole seconds, rounded up; frequent calls lose no refill. */
static void
test_ratelimit_retry_after_and_exact_refill(void **state)
{
	struct jg_ratelimit *rl = jg_ratelimit_new(64, 7, 1); /* one token per 60/7 s = 8.571 s */
	int retry = 0;
	(void)state;

	assert_true(jg_ratelimit_take(rl, "user:alice", 0, &retry));
	assert_false(jg_ratelimit_take(rl, "user:alice", 0, &retry));
	assert_int_equal(retry, 9);
	/* touched every millisecond: the refill still arrives at 8572 ms, not later */
	int64_t t = 1;
	while (!jg_ratelimit_take(rl, "user:alice", t, &retry))
		t++;
	assert_int_equal(t, 8572);
	assert_false(jg_ratelimit_take(rl, "user:alice", t, &retry));
	assert_int_equal(retry, 9);
	jg_ratelimit_free(rl);
}

/* A clock that steps back (another thread's earlier reading) never adds tokens. */
static void
test_ratelimit_time_going_back(void **state)
{
	struct jg_ratelimit *rl = jg_ratelimit_new(8, 60, 1);
	(void)state;
	assert_true(jg_ratelimit_take(rl, "k", 10000, NULL));
	assert_false(jg_ratelimit_take(rl, "k", 5000, NULL));
	assert_false(jg_ratelimit_take(rl, "k", 10999, NULL));
	assert_true(jg_ratelimit_take(rl, "k", 11000, NULL));
	jg_ratelimit_free(rl);
}

/*
 * One set (capacity 8): a limited client survives a flood of new keys; the
 * flood evicts its own members and the table never holds more than 8.
 */
static void
test_ratelimit_eviction_keeps_the_limited(void **state)
{
	struct jg_ratelimit *rl = jg_ratelimit_new(JG_RATELIMIT_WAYS, 60, 3);
	char key[64];
	(void)state;

	for (int i = 0; i < 3; i++)
		assert_true(jg_ratelimit_take(rl, "ip:203.0.113.66", 0, NULL));
	assert_false(jg_ratelimit_take(rl, "ip:203.0.113.66", 0, NULL));
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "ip:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		assert_true(jg_ratelimit_take(rl, key, 500, NULL));
		assert_true(jg_ratelimit_entries(rl) <= JG_RATELIMIT_WAYS);
	}
	assert_int_equal(jg_ratelimit_entries(rl), JG_RATELIMIT_WAYS);
	/* half a second later the limited client has half a token: still limited */
	assert_false(jg_ratelimit_take(rl, "ip:203.0.113.66", 500, NULL));
	jg_ratelimit_free(rl);
}

/* Eviction prefers the fullest bucket: the partly used client keeps its state too. */
static void
test_ratelimit_eviction_order(void **state)
{
	struct jg_ratelimit *rl = jg_ratelimit_new(JG_RATELIMIT_WAYS, 60, 4);
	char key[32];
	(void)state;

	/* "used": 3 of 4 taken; seven others: 1 of 4 taken */
	for (int i = 0; i < 3; i++)
		assert_true(jg_ratelimit_take(rl, "used", 0, NULL));
	for (int i = 0; i < JG_RATELIMIT_WAYS - 1; i++) {
		snprintf(key, sizeof(key), "other-%d", i);
		assert_true(jg_ratelimit_take(rl, key, 0, NULL));
	}
	/* a newcomer evicts one of the others, never "used" */
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "new-%d", i);
		assert_true(jg_ratelimit_take(rl, key, 0, NULL));
	}
	assert_true(jg_ratelimit_take(rl, "used", 0, NULL));
	assert_false(jg_ratelimit_take(rl, "used", 0, NULL));
	jg_ratelimit_free(rl);
}

/* A bigger table spreads keys over its sets: 500 keys nearly all fit in 1024 entries. */
static void
test_ratelimit_table_is_bounded(void **state)
{
	struct jg_ratelimit *rl = jg_ratelimit_new(1024, 60, 1);
	char key[32];
	(void)state;

	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "ip:%d", i);
		assert_true(jg_ratelimit_take(rl, key, 0, NULL));
	}
	size_t n = jg_ratelimit_entries(rl);
	assert_true(n > 470 && n <= 500);
	for (int i = 500; i < 50000; i++) {
		snprintf(key, sizeof(key), "ip:%d", i);
		jg_ratelimit_take(rl, key, 0, NULL);
	}
	assert_int_equal(jg_ratelimit_entries(rl), 1024);
	jg_ratelimit_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratelimit_new_refuses_zero),
	    cmocka_unit_test(test_ratelimit_take_burst_then_refill),
	    cmocka_unit_test(test_ratelimit_no_refill_is_a_cap),
	    cmocka_unit_test(test_ratelimit_retry_after_and_exact_refill),
	    cmocka_unit_test(test_ratelimit_time_going_back),
	    cmocka_unit_test(test_ratelimit_eviction_keeps_the_limited),
	    cmocka_unit_test(test_ratelimit_eviction_order),
	    cmocka_unit_test(test_ratelimit_table_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
