/*
 * test_aead.c - AES-256-GCM seal and open (aead.h), the one primitive
 * under the sealed paging cursors (cursor.h) and the kept capability
 * tokens (session_grant.h).
 *
 * What both formats rely on: the right key with the same AAD opens what
 * was sealed; a change to any byte of the nonce, the ciphertext or the tag,
 * to the AAD, or another key is refused, and leaves no byte of the
 * unauthenticated plaintext in the caller's buffer.  The layout (nonce ||
 * ciphertext || tag) is checked against the published AES-256-GCM vector
 * (McGrew and Viega, "The Galois/Counter Mode of Operation", test case
 * 16), so the stored and wire formats stay the standard's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/aead.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"

static const uint8_t key1[JG_AEAD_KEY_BYTES] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[JG_AEAD_KEY_BYTES] = "0123456789abcdef0123456789abcdeF";
static const uint8_t aad[] = "header-or-domain\0with a NUL";
static const char msg[] = "1764100000 req_abcdef";

static size_t
seal_msg(uint8_t *out, size_t cap)
{
	size_t n = 0;
	assert_int_equal(
	    jg_aead_seal(key1, aad, sizeof(aad), (const uint8_t *)msg, strlen(msg), out, cap, &n),
	    0);
	return n;
}

static void
test_aead_round_trip(void **state)
{
	uint8_t s1[128], s2[128], plain[64];
	size_t n1, n2, pn = 0;
	(void)state;

	n1 = seal_msg(s1, sizeof(s1));
	n2 = seal_msg(s2, sizeof(s2));
	assert_int_equal(n1, JG_AEAD_NONCE + strlen(msg) + JG_AEAD_TAG);
	assert_int_equal(n2, n1);
	assert_memory_not_equal(s1, s2, JG_AEAD_NONCE); /* a fresh nonce each seal */
	assert_null(memmem(s1, n1, "req_", 4));
	assert_int_equal(jg_aead_open(key1, aad, sizeof(aad), s1, n1, plain, sizeof(plain), &pn),
			 0);
	assert_int_equal(pn, strlen(msg));
	assert_memory_equal(plain, msg, pn);
	assert_int_equal(jg_aead_open(key1, aad, sizeof(aad), s2, n2, plain, sizeof(plain), &pn),
			 0);
	assert_memory_equal(plain, msg, pn);
	/* no AAD at all is a message of its own, and opens only without one */
	assert_int_equal(
	    jg_aead_seal(key1, NULL, 0, (const uint8_t *)msg, strlen(msg), s1, sizeof(s1), &n1), 0);
	assert_int_equal(jg_aead_open(key1, NULL, 0, s1, n1, plain, sizeof(plain), &pn), 0);
	assert_memory_equal(plain, msg, pn);
	assert_int_equal(jg_aead_open(key1, aad, sizeof(aad), s1, n1, plain, sizeof(plain), &pn),
			 JG_ECRYPTO);
}

/* Opens sealed with a refusal expected; the buffer must hold nothing of the plaintext. */
static void
refused(const uint8_t *key, const uint8_t *a, size_t alen, const uint8_t *sealed, size_t n)
{
	uint8_t plain[64];
	size_t pn = 99;

	memset(plain, 0xa5, sizeof(plain));
	assert_int_equal(jg_aead_open(key, a, alen, sealed, n, plain, sizeof(plain), &pn),
			 JG_ECRYPTO);
	assert_int_equal(pn, 0);
	assert_null(memmem(plain, sizeof(plain), "req_", 4));
}

static void
test_aead_open_refuses_every_change(void **state)
{
	uint8_t s[128], t[128], a[sizeof(aad)];
	size_t n;
	(void)state;

	n = seal_msg(s, sizeof(s));
	/* every byte: nonce, ciphertext, tag */
	for (size_t i = 0; i < n; i++) {
		memcpy(t, s, n);
		t[i] ^= 0x01;
		refused(key1, aad, sizeof(aad), t, n);
	}
	/* every byte of the AAD, and an AAD shorter or longer */
	for (size_t i = 0; i < sizeof(aad); i++) {
		memcpy(a, aad, sizeof(aad));
		a[i] ^= 0x80;
		refused(key1, a, sizeof(a), s, n);
	}
	refused(key1, aad, sizeof(aad) - 1, s, n);
	refused(key1, (const uint8_t *)"header-or-domain\0with a NUL!", sizeof(aad) + 1, s, n);
	/* another key */
	refused(key2, aad, sizeof(aad), s, n);
	/* cut short: the tag no longer matches */
	refused(key1, aad, sizeof(aad), s, n - 1);
	/* the right key still opens the untouched message */
	uint8_t plain[64];
	size_t pn = 0;
	assert_int_equal(jg_aead_open(key1, aad, sizeof(aad), s, n, plain, sizeof(plain), &pn), 0);
	assert_memory_equal(plain, msg, pn);
}

static void
test_aead_refuses_bad_lengths(void **state)
{
	uint8_t s[128], plain[64];
	size_t n, pn = 0;
	(void)state;

	n = seal_msg(s, sizeof(s));
	/* shorter than nonce and tag: nothing to open */
	assert_int_equal(jg_aead_open(key1, aad, sizeof(aad), s, JG_AEAD_OVERHEAD - 1, plain,
				      sizeof(plain), &pn),
			 JG_EINVAL);
	/* a plaintext buffer too small is refused before any decryption */
	assert_int_equal(jg_aead_open(key1, aad, sizeof(aad), s, n, plain, strlen(msg) - 1, &pn),
			 JG_EINVAL);
	/* a seal buffer too small */
	assert_int_equal(jg_aead_seal(key1, aad, sizeof(aad), (const uint8_t *)msg, strlen(msg), s,
				      strlen(msg) + JG_AEAD_OVERHEAD - 1, &n),
			 JG_EINVAL);
	assert_int_equal(n, 0);
	/* an empty plaintext seals to nonce and tag alone, and opens */
	assert_int_equal(jg_aead_seal(key1, aad, sizeof(aad), NULL, 0, s, sizeof(s), &n), 0);
	assert_int_equal(n, JG_AEAD_OVERHEAD);
	assert_int_equal(jg_aead_open(key1, aad, sizeof(aad), s, n, plain, sizeof(plain), &pn), 0);
	assert_int_equal(pn, 0);
	s[JG_AEAD_NONCE] ^= 1;
	assert_int_equal(jg_aead_open(key1, aad, sizeof(aad), s, n, plain, sizeof(plain), &pn),
			 JG_ECRYPTO);
}

/* GCM spec test case 16 (AES-256, 96-bit IV, AAD): nonce || ciphertext || tag opens to P. */
static void
test_aead_standard_vector(void **state)
{
	static const char k_hex[] =
	    "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
	static const char iv_hex[] = "cafebabefacedbaddecaf888";
	static const char p_hex[] =
	    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
	static const char a_hex[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
	static const char c_hex[] =
	    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
	static const char t_hex[] = "76fc6ece0f4e1768cddf8853bb2d551b";
	uint8_t k[32], a[20], p[60], sealed[12 + 60 + 16], plain[60];
	size_t pn = 0;
	(void)state;

	assert_int_equal(jg_hex_decode(k_hex, strlen(k_hex), k, sizeof(k)), 0);
	assert_int_equal(jg_hex_decode(a_hex, strlen(a_hex), a, sizeof(a)), 0);
	assert_int_equal(jg_hex_decode(p_hex, strlen(p_hex), p, sizeof(p)), 0);
	assert_int_equal(jg_hex_decode(iv_hex, strlen(iv_hex), sealed, 12), 0);
	assert_int_equal(jg_hex_decode(c_hex, strlen(c_hex), sealed + 12, 60), 0);
	assert_int_equal(jg_hex_decode(t_hex, strlen(t_hex), sealed + 72, 16), 0);
	assert_int_equal(
	    jg_aead_open(k, a, sizeof(a), sealed, sizeof(sealed), plain, sizeof(plain), &pn), 0);
	assert_int_equal(pn, sizeof(p));
	assert_memory_equal(plain, p, sizeof(p));
	sealed[72 + 15] ^= 1; /* the tag's last bit */
	assert_int_equal(
	    jg_aead_open(k, a, sizeof(a), sealed, sizeof(sealed), plain, sizeof(plain), &pn),
	    JG_ECRYPTO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aead_round_trip),
	    cmocka_unit_test(test_aead_open_refuses_every_change),
	    cmocka_unit_test(test_aead_refuses_bad_lengths),
	    cmocka_unit_test(test_aead_standard_vector),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
