/*
 * test_random.c - random bytes, tokens and hex ids (random.h), the
 * constant-time secret comparison (secret.h) and jg_errf (error.h).
 *
 * Randomness cannot be checked for quality here; what can: the form and
 * length of every token (a cookie value is 43 base64url characters), that
 * two draws differ, and that a buffer too small or a size out of range is
 * an error rather than a short or overrun value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/random.h"
#include "jitgate/secret.h"

static void
test_random_token_form(void **state)
{
	char a[64], b[64];
	uint8_t raw[32];
	size_t n;
	(void)state;

	assert_int_equal(jg_random_token(32, a, sizeof(a)), 0);
	assert_int_equal(jg_random_token(32, b, sizeof(b)), 0);
	assert_int_equal(strlen(a), 43);
	assert_string_not_equal(a, b);
	assert_int_equal(jg_b64url_decode(a, strlen(a), raw, sizeof(raw), &n), 0);
	assert_int_equal(n, 32);
	assert_int_equal(jg_random_token(16, a, sizeof(a)), 0);
	assert_int_equal(strlen(a), 22);
	/* exactly enough room, one short, and sizes out of range */
	assert_int_equal(jg_random_token(32, a, 44), 0);
	assert_int_equal(jg_random_token(32, a, 43), JG_ETOOBIG);
	assert_string_equal(a, "");
	assert_int_equal(jg_random_token(0, a, sizeof(a)), JG_EINVAL);
	assert_int_equal(jg_random_token(JG_RANDOM_MAX_BYTES + 1, a, sizeof(a)), JG_EINVAL);
}

static void
test_random_hex_and_bytes(void **state)
{
	char a[33], b[33];
	uint8_t x[16] = {0}, y[16] = {0};
	(void)state;

	assert_int_equal(jg_random_hex(16, a, sizeof(a)), 0);
	assert_int_equal(jg_random_hex(16, b, sizeof(b)), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
	assert_int_equal(jg_random_hex(16, a, 32), JG_ETOOBIG);
	assert_int_equal(jg_random_bytes(x, sizeof(x)), 0);
	assert_int_equal(jg_random_bytes(y, sizeof(y)), 0);
	assert_memory_not_equal(x, y, sizeof(x));
	assert_int_equal(jg_random_bytes(x, 0), 0);
}

static void
test_secret_equal(void **state)
{
	(void)state;
	assert_true(jg_secret_equal("s3cret-token", "s3cret-token"));
	assert_false(jg_secret_equal("s3cret-tokeN", "s3cret-token"));
	assert_false(jg_secret_equal("s3cret-toke", "s3cret-token"));	/* a prefix */
	assert_false(jg_secret_equal("s3cret-token!", "s3cret-token")); /* longer */
	assert_false(jg_secret_equal(NULL, "s3cret-token"));
	assert_false(jg_secret_equal("s3cret-token", NULL));
	assert_false(jg_secret_equal(NULL, NULL));
	/* an empty secret never matches, not even itself */
	assert_false(jg_secret_equal("", ""));
	assert_false(jg_secret_equal("x", ""));
}

static void
test_errf(void **state)
{
	char why[8] = "old";
	(void)state;

	assert_int_equal(jg_errf(why, sizeof(why), JG_EDENIED, "no %s", "way"), JG_EDENIED);
	assert_string_equal(why, "no way");
	/* cut short, still terminated */
	assert_int_equal(jg_errf(why, sizeof(why), JG_EINVAL, "%d", 123456789), JG_EINVAL);
	assert_string_equal(why, "1234567");
	/* nowhere to write: only the code comes back */
	assert_int_equal(jg_errf(NULL, 0, JG_ESTORE, "x"), JG_ESTORE);
	assert_int_equal(jg_errf(why, 0, JG_ESTORE, "y"), JG_ESTORE);
	assert_string_equal(why, "1234567");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_token_form),
	    cmocka_unit_test(test_random_hex_and_bytes),
	    cmocka_unit_test(test_secret_equal),
	    cmocka_unit_test(test_errf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
