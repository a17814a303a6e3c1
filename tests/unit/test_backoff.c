/*
 * test_backoff.c - the retry delay (backoff.h): doubling to the cap
 * without overflow, and jitter that only ever shortens, by at most a
 * quarter, and never to zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/backoff.h"

static void
test_backoff_doubles_to_the_cap(void **state)
{
	(void)state;
	/* no jitter (rnd 0): base, 2 base, 4 base ... capped */
	assert_int_equal(jg_backoff_ms(1, 1000, 60000, 0), 1000);
	assert_int_equal(jg_backoff_ms(2, 1000, 60000, 0), 2000);
	assert_int_equal(jg_backoff_ms(3, 1000, 60000, 0), 4000);
	assert_int_equal(jg_backoff_ms(6, 1000, 60000, 0), 32000);
	assert_int_equal(jg_backoff_ms(7, 1000, 60000, 0), 60000);
	assert_int_equal(jg_backoff_ms(1000, 1000, 60000, 0), 60000); /* no overflow */
	assert_int_equal(jg_backoff_ms(40, 10000, 900000, 0), 900000);
}

static void
test_backoff_jitter_bounds(void **state)
{
	(void)state;
	/* at most a quarter less, never more, never zero */
	assert_int_equal(jg_backoff_ms(3, 1000, 60000, UINT32_MAX), 3000);
	assert_int_equal(jg_backoff_ms(3, 1000, 60000, UINT32_MAX / 2), 3501); /* 4000 - 499 */
	for (uint32_t r = 0; r < 4000000000u; r += 123456789u) {
		int64_t d = jg_backoff_ms(2, 400, 60000, r);
		assert_true(d >= 600 && d <= 800);
	}
	assert_int_equal(jg_backoff_ms(1, 1, 1, UINT32_MAX), 1);
	assert_int_equal(jg_backoff_ms(1, 0, 0, 0), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backoff_doubles_to_the_cap),
	    cmocka_unit_test(test_backoff_jitter_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
