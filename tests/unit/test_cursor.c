/*
 * test_cursor.c - sealed paging cursors: round trip, tampering, other keys, garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/cursor.h"
#include "jitgate/error.h"

static void
test_cursor_round_trip_hides_the_position(void **state)
{
	uint8_t key[JG_CURSOR_KEY_BYTES];
	char c1[JG_CURSOR_MAX_LEN], c2[JG_CURSOR_MAX_LEN], plain[JG_CURSOR_MAX_PLAIN + 1];
	(void)state;

	assert_int_equal(jg_cursor_key_new(key), 0);
	assert_int_equal(jg_cursor_seal(key, "1764100000 req_abcdef", c1, sizeof(c1)), 0);
	assert_int_equal(jg_cursor_seal(key, "1764100000 req_abcdef", c2, sizeof(c2)), 0);
	assert_string_not_equal(c1, c2); /* a fresh nonce each time */
	assert_null(strstr(c1, "req_"));
	assert_int_equal(
	    strspn(c1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	    strlen(c1));
	assert_int_equal(jg_cursor_open(key, c1, plain, sizeof(plain)), 0);
	assert_string_equal(plain, "1764100000 req_abcdef");
}

static void
test_cursor_open_refuses_tampered_foreign_and_garbage(void **state)
{
	uint8_t key[JG_CURSOR_KEY_BYTES], other[JG_CURSOR_KEY_BYTES];
	char c[JG_CURSOR_MAX_LEN], plain[JG_CURSOR_MAX_PLAIN + 1], long_one[600];
	(void)state;

	assert_int_equal(jg_cursor_key_new(key), 0);
	assert_int_equal(jg_cursor_key_new(other), 0);
	assert_int_equal(jg_cursor_seal(key, "42 req_x", c, sizeof(c)), 0);
	assert_int_equal(jg_cursor_open(other, c, plain, sizeof(plain)), JG_EINVAL);
	assert_string_equal(plain, "");
	for (size_t i = 0; i < strlen(c); i++) {
		char t[JG_CURSOR_MAX_LEN];
		memcpy(t, c, strlen(c) + 1);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		assert_int_equal(jg_cursor_open(key, t, plain, sizeof(plain)), JG_EINVAL);
	}
	assert_int_equal(jg_cursor_open(key, "", plain, sizeof(plain)), JG_EINVAL);
	assert_int_equal(jg_cursor_open(key, "!!!!", plain, sizeof(plain)), JG_EINVAL);
	assert_int_equal(jg_cursor_open(key, "AAAA", plain, sizeof(plain)), JG_EINVAL);
	/* liboauth2's decoder aborted the process on these (issue 16, finding A) */
	static const char *const padded[] = {"a=", "a==", "=", "ab=c", "AAAA=AAAA"};
	for (size_t i = 0; i < sizeof(padded) / sizeof(padded[0]); i++)
		assert_int_equal(jg_cursor_open(key, padded[i], plain, sizeof(plain)), JG_EINVAL);
	/* the padded form of a real cursor is not a second spelling of it */
	char pad[JG_CURSOR_MAX_LEN + 2];
	snprintf(pad, sizeof(pad), "%s=", c);
	assert_int_equal(jg_cursor_open(key, pad, plain, sizeof(plain)), JG_EINVAL);
	memset(long_one, 'A', sizeof(long_one) - 1);
	long_one[sizeof(long_one) - 1] = '\0';
	assert_int_equal(jg_cursor_open(key, long_one, plain, sizeof(plain)), JG_EINVAL);
	/* the plain text must fit the caller's buffer */
	char tiny[4];
	assert_int_equal(jg_cursor_open(key, c, tiny, sizeof(tiny)), JG_EINVAL);
}

static void
test_cursor_seal_refuses_empty_and_long(void **state)
{
	uint8_t key[JG_CURSOR_KEY_BYTES] = {0};
	char c[JG_CURSOR_MAX_LEN], big[JG_CURSOR_MAX_PLAIN + 2];
	(void)state;

	assert_int_equal(jg_cursor_seal(key, "", c, sizeof(c)), JG_EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(jg_cursor_seal(key, big, c, sizeof(c)), JG_EINVAL);
	big[JG_CURSOR_MAX_PLAIN] = '\0';
	assert_int_equal(jg_cursor_seal(key, big, c, sizeof(c)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cursor_round_trip_hides_the_position),
	    cmocka_unit_test(test_cursor_open_refuses_tampered_foreign_and_garbage),
	    cmocka_unit_test(test_cursor_seal_refuses_empty_and_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
