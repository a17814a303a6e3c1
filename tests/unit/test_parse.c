/*
 * test_parse.c - bounded decimal integers (parse.h).
 *
 * What a caller relies on: exactly the decimal spellings are numbers; a
 * value outside [min, max] - including one too large for 64 bits, which
 * strtoull would quietly clamp to ULLONG_MAX - is refused; and a refused
 * input leaves the output untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/parse.h"

static void
test_parse_u64_accepts(void **state)
{
	uint64_t v = 1;
	(void)state;

	assert_int_equal(jg_parse_u64("0", 0, UINT64_MAX, &v), 0);
	assert_true(v == 0);
	assert_int_equal(jg_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(jg_parse_u64("007", 0, 10, &v), 0);
	assert_true(v == 7);
	assert_int_equal(jg_parse_u64("65535", 1, 65535, &v), 0);
	assert_true(v == 65535);
}

static void
test_parse_u64_refuses(void **state)
{
	static const char *const bad[] = {
	    "",
	    " 1",
	    "1 ",
	    "+1",
	    "-1",
	    "-0",
	    "0x10",
	    "1e3",
	    "1.0",
	    "١",
	    "1\n",
	    "18446744073709551616", /* 2^64: ERANGE, strtoull says ULLONG_MAX */
	    "99999999999999999999999999999999999999999999999999",
	};
	uint64_t v = 42;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(jg_parse_u64(bad[i], 0, UINT64_MAX, &v), JG_EINVAL);
	assert_int_equal(jg_parse_u64(NULL, 0, UINT64_MAX, &v), JG_EINVAL);
	/* the bounds */
	assert_int_equal(jg_parse_u64("0", 1, 65535, &v), JG_EINVAL);
	assert_int_equal(jg_parse_u64("65536", 1, 65535, &v), JG_EINVAL);
	assert_true(v == 42);
}

static void
test_parse_i64(void **state)
{
	int64_t v = 5;
	(void)state;

	assert_int_equal(jg_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(jg_parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(jg_parse_i64("-0", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == 0);
	assert_int_equal(jg_parse_i64("-12", -12, 12, &v), 0);
	assert_true(v == -12);

	v = 5;
	static const char *const bad[] = {
	    "",
	    "-",
	    "--1",
	    "+1",
	    " 1",
	    "1 ",
	    "1-",
	    "0x1",
	    "1.5",
	    "9223372036854775808",
	    "-9223372036854775809",
	    "100000000000000000000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(jg_parse_i64(bad[i], INT64_MIN, INT64_MAX, &v), JG_EINVAL);
	assert_int_equal(jg_parse_i64("-13", -12, 12, &v), JG_EINVAL);
	assert_int_equal(jg_parse_i64("13", -12, 12, &v), JG_EINVAL);
	assert_int_equal(jg_parse_i64(NULL, 0, 1, &v), JG_EINVAL);
	assert_true(v == 5);
}

static void
test_parse_i64n(void **state)
{
	int64_t v = 5;
	(void)state;

	/* only the counted characters: "12" of "123" */
	assert_int_equal(jg_parse_i64n("123", 2, 0, 100, &v), 0);
	assert_true(v == 12);
	assert_int_equal(jg_parse_i64n("15m", 2, 0, 100, &v), 0);
	assert_true(v == 15);
	assert_int_equal(jg_parse_i64n("15m", 3, 0, 100, &v), JG_EINVAL);
	assert_int_equal(jg_parse_i64n("15", 0, 0, 100, &v), JG_EINVAL);
	assert_true(v == 15);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_u64_accepts),
	    cmocka_unit_test(test_parse_u64_refuses),
	    cmocka_unit_test(test_parse_i64),
	    cmocka_unit_test(test_parse_i64n),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
