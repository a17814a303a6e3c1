/*
 * test_webhook.c - the signature on outbound webhook deliveries
 * (webhook.h): golden vectors, and that key, body and time all count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/webhook.h"

static const char key[] = "0123456789abcdef0123";

/* Golden vectors: python3 -c 'hmac.new(key, b"<ts>." + body, sha256).hexdigest()' */
static void
test_webhook_sign_golden(void **state)
{
	char sig[JG_WEBHOOK_SIG_LEN];
	(void)state;

	assert_int_equal(jg_webhook_sign(key, strlen(key), 1700000000, "{\"a\":1}", 7, sig), 0);
	assert_string_equal(
	    sig, "sha256=34e41bd41c08899dd901e050eca2824e8dfecfe16d4778add8a6f330817db525");
	/* the timestamp is signed: another second, another signature */
	assert_int_equal(jg_webhook_sign(key, strlen(key), 1700000001, "{\"a\":1}", 7, sig), 0);
	assert_string_equal(
	    sig, "sha256=5f29a8b6385cf4e4f8d9a7bf310832fb44e030d107eff2701b50817de7e3f213");
}

static void
test_webhook_sign_depends_on_key_and_body(void **state)
{
	char a[JG_WEBHOOK_SIG_LEN], b[JG_WEBHOOK_SIG_LEN], c[JG_WEBHOOK_SIG_LEN];
	(void)state;

	assert_int_equal(jg_webhook_sign(key, strlen(key), 1, "body", 4, a), 0);
	assert_int_equal(jg_webhook_sign("another-key-of-twenty", 21, 1, "body", 4, b), 0);
	assert_int_equal(jg_webhook_sign(key, strlen(key), 1, "bodY", 4, c), 0);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), JG_WEBHOOK_SIG_LEN - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_webhook_sign_golden),
	    cmocka_unit_test(test_webhook_sign_depends_on_key_and_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
