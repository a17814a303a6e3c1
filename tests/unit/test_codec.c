/*
 * test_codec.c - hex and base64url (codec.h).
 *
 * Golden vectors are RFC 4648's (section 10, turned into the unpadded
 * base64url alphabet) plus bytes that use '-' and '_'.  What a user relies
 * on: each byte string has exactly one accepted spelling, and no input,
 * however malformed - the "a=" that aborts liboauth2's decoder, padding,
 * blanks, a length no encoding has, a last group with stray bits - does
 * anything but fail with JG_EPARSE.  Buffers too small are refused, never
 * overrun (ASan watches the unit-asan run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"

struct vector {
	const char *bytes;
	const char *b64url;
};

static const struct vector rfc4648[] = {
    {"", ""},		{"f", "Zg"},	      {"fo", "Zm8"},	      {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void
test_b64url_rfc4648_vectors(void **state)
{
	char out[32];
	uint8_t raw[32];
	size_t n;
	(void)state;

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const struct vector *v = &rfc4648[i];
		size_t len = strlen(v->bytes);
		assert_int_equal(jg_b64url_encode(v->bytes, len, out, sizeof(out)), 0);
		assert_string_equal(out, v->b64url);
		assert_int_equal(strlen(out), JG_B64URL_LEN(len));
		assert_true(jg_b64url_valid(v->b64url, strlen(v->b64url)));
		assert_int_equal(
		    jg_b64url_decode(v->b64url, strlen(v->b64url), raw, sizeof(raw), &n), 0);
		assert_int_equal(n, len);
		assert_int_equal(JG_B64URL_DECODED_LEN(strlen(v->b64url)), len);
		assert_memory_equal(raw, v->bytes, len);
	}
}

/* The two characters that differ from standard base64, both ways. */
static void
test_b64url_alphabet(void **state)
{
	static const uint8_t ff[] = {0xfb, 0xff, 0xbf},
			     all[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30,
				      0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51, 0x55, 0x97, 0x61, 0x96,
				      0x9b, 0x71, 0xd7, 0x9f, 0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7,
				      0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf, 0xc3, 0x1c, 0xb3, 0xd3,
				      0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf};
	char out[80];
	uint8_t raw[64];
	size_t n;
	(void)state;

	assert_int_equal(jg_b64url_encode(ff, sizeof(ff), out, sizeof(out)), 0);
	assert_string_equal(out, "-_-_");
	assert_int_equal(jg_b64url_encode(all, sizeof(all), out, sizeof(out)), 0);
	assert_string_equal(out,
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
	assert_int_equal(jg_b64url_decode(out, strlen(out), raw, sizeof(raw), &n), 0);
	assert_int_equal(n, sizeof(all));
	assert_memory_equal(raw, all, sizeof(all));
}

/* Everything that is not the one spelling: refused before any decoder sees it. */
static void
test_b64url_decode_strict(void **state)
{
	static const char *const bad[] = {
	    "a=", /* liboauth2/cjose assert()s on this one */
	    "a==",	 "=",	 "==",	   "Zg==",  "Zm8=",  "ab=c", "Zm9v=",	"Zm9vYg=",
	    "AAAA=AAAA", "a", /* a length no encoding has */
	    "Zm9vY",	      /* ditto (5 % 4 == 1) */
	    "Zh",	      /* non-canonical: "Zg" with a stray low bit */
	    "Zm9",	      /* non-canonical: "Zm8" with a stray low bit */
	    "Zm+v",	 "Zm/v", "Zm9v\n", " Zm9v", "Zm9v ", "Zm.v", "Zm9v%3D", "Zm\x80v",
	};
	uint8_t raw[16];
	size_t n = 99;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(jg_b64url_valid(bad[i], strlen(bad[i])));
		assert_int_equal(jg_b64url_decode(bad[i], strlen(bad[i]), raw, sizeof(raw), &n),
				 JG_EPARSE);
		assert_int_equal(n, 0);
	}
	/* a NUL inside the counted length is a character like any other: refused */
	assert_false(jg_b64url_valid("Zm\0v", 4));
	assert_false(jg_b64url_valid(NULL, 0));
	/* the empty string is the empty byte string */
	assert_true(jg_b64url_valid("", 0));
	assert_int_equal(jg_b64url_decode("", 0, raw, 0, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_b64url_sizes(void **state)
{
	char out[8];
	uint8_t raw[8], big[300];
	size_t n = 99;
	(void)state;

	/* "foobar" needs 8 characters and a NUL */
	assert_int_equal(jg_b64url_encode("foobar", 6, out, 8), JG_ETOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(jg_b64url_encode("fooba", 5, out, 8), 0);
	assert_string_equal(out, "Zm9vYmE");
	/* decoding into a buffer one byte short */
	assert_int_equal(jg_b64url_decode("Zm9vYmFy", 8, raw, 5, &n), JG_ETOOBIG);
	assert_int_equal(n, 0);
	assert_int_equal(jg_b64url_decode("Zm9vYmFy", 8, raw, 6, &n), 0);
	assert_int_equal(n, 6);
	/* lengths of every remainder, round trip */
	char text[512];
	for (size_t len = 0; len <= sizeof(big); len++) {
		for (size_t i = 0; i < len; i++)
			big[i] = (uint8_t)(i * 7 + len);
		assert_int_equal(jg_b64url_encode(big, len, text, sizeof(text)), 0);
		assert_int_equal(strlen(text), JG_B64URL_LEN(len));
		uint8_t back[300];
		assert_int_equal(jg_b64url_decode(text, strlen(text), back, sizeof(back), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(back, big, len);
	}
}

static void
test_hex_encode_decode(void **state)
{
	static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
	char out[17];
	uint8_t back[8];
	(void)state;

	assert_int_equal(jg_hex_encode(bytes, sizeof(bytes), out, sizeof(out)), 0);
	assert_string_equal(out, "00017f80abcdefff");
	assert_int_equal(jg_hex_decode(out, 16, back, 8), 0);
	assert_memory_equal(back, bytes, 8);
	/* one byte short of room: refused, out is "" */
	assert_int_equal(jg_hex_encode(bytes, sizeof(bytes), out, 16), JG_ETOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(jg_hex_encode(bytes, 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(jg_hex_encode(bytes, 1, out, 0), JG_ETOOBIG);

	/* the decoder reads exactly the lower-case spelling */
	assert_int_equal(jg_hex_decode("00017F80abcdefff", 16, back, 8), JG_EPARSE);
	assert_int_equal(jg_hex_decode("00017f80abcdeff", 15, back, 8), JG_EPARSE);
	assert_int_equal(jg_hex_decode("00017f80abcdefff00", 18, back, 8), JG_EPARSE);
	assert_int_equal(jg_hex_decode("0g", 2, back, 1), JG_EPARSE);
	assert_int_equal(jg_hex_decode(" 0", 2, back, 1), JG_EPARSE);
	assert_int_equal(jg_hex_decode("+0", 2, back, 1), JG_EPARSE);
	assert_int_equal(jg_hex_decode(NULL, 0, back, 0), JG_EPARSE);
}

static void
test_hex_lower(void **state)
{
	char out[40];
	(void)state;

	assert_true(jg_hex_lower("4BF92F3577B34DA6a3ce929d0e0e4736", 32, out));
	assert_string_equal(out, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_false(jg_hex_lower("4BF92F3577B34DA6a3ce929d0e0e473g", 32, out));
	assert_false(jg_hex_lower("", 0, out));
	assert_false(jg_hex_lower("0x12", 4, out));
	assert_false(jg_hex_lower(NULL, 2, out));
}

static void
test_hex32(void **state)
{
	uint8_t h[32], back[32];
	char hex[65];
	(void)state;

	for (int i = 0; i < 32; i++)
		h[i] = (uint8_t)(i * 8 + 7);
	jg_hex32(h, hex);
	assert_string_equal(hex,
			    "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
	assert_int_equal(jg_unhex32(hex, back), 0);
	assert_memory_equal(back, h, 32);
	hex[63] = '\0';
	assert_int_equal(jg_unhex32(hex, back), JG_EPARSE);
	assert_int_equal(jg_unhex32(NULL, back), JG_EPARSE);
	assert_int_equal(
	    jg_unhex32("070F171F272F373F474F575F676F777F878F979FA7AFB7BFC7CFD7DFE7EFF7FF", back),
	    JG_EPARSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64url_rfc4648_vectors),
	    cmocka_unit_test(test_b64url_alphabet),
	    cmocka_unit_test(test_b64url_decode_strict),
	    cmocka_unit_test(test_b64url_sizes),
	    cmocka_unit_test(test_hex_encode_decode),
	    cmocka_unit_test(test_hex_lower),
	    cmocka_unit_test(test_hex32),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
