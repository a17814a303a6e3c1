/*
 * test_sha256.c - SHA-256 one-shot, in two parts, and streaming (sha256.h).
 *
 * Golden vectors from FIPS 180-2 (appendix B: "abc", the 448-bit message,
 * a million 'a') and the empty string.  Streaming must give the one-shot
 * digest whatever the split, and stay independent of the one-shot calls
 * made while it is open (they share nothing).  A failed digest is
 * test_digest_fail.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/sha256.h"

#define ABC	 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY	 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define LONG448	 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define MILLIONA "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define MSG448	 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

static void
test_sha256_vectors(void **state)
{
	char hex[65];
	uint8_t md[32];
	(void)state;

	assert_int_equal(jg_sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex, ABC);
	assert_int_equal(jg_sha256_hex("", 0, hex), 0);
	assert_string_equal(hex, EMPTY);
	assert_int_equal(jg_sha256_hex(MSG448, strlen(MSG448), hex), 0);
	assert_string_equal(hex, LONG448);
	assert_int_equal(jg_sha256("abc", 3, md), 0);
	jg_hex32(md, hex);
	assert_string_equal(hex, ABC);
	/* in two parts: every split of the 448-bit message */
	for (size_t i = 0; i <= strlen(MSG448); i++) {
		assert_int_equal(jg_sha256_2(MSG448, i, MSG448 + i, strlen(MSG448) - i, md), 0);
		jg_hex32(md, hex);
		assert_string_equal(hex, LONG448);
	}
}

static void
test_sha256_streaming(void **state)
{
	struct jg_sha256_ctx c;
	uint8_t md[32], inner[32];
	char hex[65];
	char *a = malloc(1000000);
	(void)state;

	assert_non_null(a);
	memset(a, 'a', 1000000);
	assert_int_equal(jg_sha256_init(&c), 0);
	/* uneven pieces, with one-shot hashes in between that must not disturb it */
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 9973 + 1) {
		size_t n = off + step > 1000000 ? 1000000 - off : step;
		assert_int_equal(jg_sha256_update(&c, a + off, n), 0);
		assert_int_equal(jg_sha256("abc", 3, inner), 0);
	}
	assert_int_equal(jg_sha256_update(&c, "", 0), 0);
	assert_int_equal(jg_sha256_final(&c, md), 0);
	jg_hex32(md, hex);
	assert_string_equal(hex, MILLIONA);
	jg_hex32(inner, hex);
	assert_string_equal(hex, ABC);
	free(a);

	/* final closes: a second final, or an update after it, fails; abort is a no-op */
	assert_int_equal(jg_sha256_final(&c, md), JG_ECRYPTO);
	assert_int_equal(jg_sha256_update(&c, "x", 1), JG_ECRYPTO);
	jg_sha256_abort(&c);
	/* abort of an open context, then a fresh one */
	assert_int_equal(jg_sha256_init(&c), 0);
	assert_int_equal(jg_sha256_update(&c, "ab", 2), 0);
	jg_sha256_abort(&c);
	assert_int_equal(jg_sha256_init(&c), 0);
	assert_int_equal(jg_sha256_update(&c, "ab", 2), 0);
	assert_int_equal(jg_sha256_update(&c, "c", 1), 0);
	assert_int_equal(jg_sha256_final(&c, md), 0);
	jg_hex32(md, hex);
	assert_string_equal(hex, ABC);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_vectors),
	    cmocka_unit_test(test_sha256_streaming),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
