/*
 * cursor.c - sealed paging cursors with AES-256-GCM (see cursor.h).
 *
 * The keys are the raw bytes of the cursor kind (keys.h,
 * jg_keys_load_raw), copied once at load; sealing and opening are aead.h's,
 * the header in front of the sealed bytes and the header the AAD.
 * Opening checks the text (strict base64url, codec.h) and the header
 * before any decryption, then the tag, then the kind: a cursor of another
 * kind is refused only after it authenticated, so the refusal says nothing
 * a forger could use.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/aead.h"
#include "jitgate/codec.h"
#include "jitgate/cursor.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"

#define VERSION	  1
#define HEADER	  3 /* version, key number (big endian) */
#define PLAIN_MAX (JG_CURSOR_KIND_MAX + 1 + JG_CURSOR_MAX_PLAIN)
#define RAW_MAX	  (HEADER + JG_AEAD_OVERHEAD + PLAIN_MAX)

_Static_assert(JG_B64URL_LEN(RAW_MAX) < JG_CURSOR_MAX_LEN, "a cursor must fit JG_CURSOR_MAX_LEN");
_Static_assert(JG_KEY_CURSOR_BYTES == JG_AEAD_KEY_BYTES, "a cursor key is an AES-256 key");

struct jg_cursor_keys {
	struct jg_raw_keys raw; /* oldest first; the newest seals */
};

void
jg_cursor_keys_free(struct jg_cursor_keys *keys)
{
	if (keys == NULL)
		return;
	OPENSSL_cleanse(keys, sizeof(*keys));
	free(keys);
}

int
jg_cursor_keys_load(const char *key_dir, struct jg_cursor_keys **out, char *err, size_t errlen)
{
	struct jg_cursor_keys *keys = NULL;
	int rc;

	*out = NULL;
	if ((keys = calloc(1, sizeof(*keys))) == NULL)
		return JG_ENOMEM;
	/* the number travels in two bytes: jg_keys_load_raw refuses one that does not fit */
	if ((rc = jg_keys_load_raw(key_dir, JG_KEY_CURSOR, &keys->raw, err, errlen)) != 0) {
		jg_cursor_keys_free(keys);
		return rc;
	}
	*out = keys;
	return 0;
}

/* [a-z]{1,JG_CURSOR_KIND_MAX} */
static bool
valid_kind(const char *kind)
{
	size_t n = kind ? strlen(kind) : 0;
	return n > 0 && n <= JG_CURSOR_KIND_MAX && strspn(kind, "abcdefghijklmnopqrstuvwxyz") == n;
}

int
jg_cursor_seal(const struct jg_cursor_keys *keys, const char *kind, const char *position, char *out,
	       size_t outlen)
{
	uint8_t raw[RAW_MAX], plain[PLAIN_MAX];
	size_t klen, plen, n, slen = 0;
	int rc;

	if (outlen > 0)
		out[0] = '\0';
	if (keys == NULL || keys->raw.n == 0 || !valid_kind(kind) || position == NULL ||
	    (plen = strlen(position)) == 0 || plen > JG_CURSOR_MAX_PLAIN)
		return JG_EINVAL;
	const struct jg_raw_key *key = &keys->raw.keys[keys->raw.n - 1];
	klen = strlen(kind);
	memcpy(plain, kind, klen);
	plain[klen] = '\0';
	memcpy(plain + klen + 1, position, plen);
	n = klen + 1 + plen;
	raw[0] = VERSION;
	raw[1] = (uint8_t)(key->number >> 8);
	raw[2] = (uint8_t)key->number;
	if (jg_aead_seal(key->k, raw, HEADER, plain, n, raw + HEADER, sizeof(raw) - HEADER,
			 &slen) == 0)
		rc = jg_b64url_encode(raw, HEADER + slen, out, outlen);
	else
		rc = JG_ECRYPTO;
	OPENSSL_cleanse(plain, sizeof(plain));
	return rc;
}

int
jg_cursor_open(const struct jg_cursor_keys *keys, const char *kind, const char *cursor,
	       char *position, size_t poslen)
{
	uint8_t raw[RAW_MAX], plain[PLAIN_MAX];
	const struct jg_raw_key *key;
	size_t rawlen = 0, n = 0, clen;
	int rc = JG_EINVAL;

	if (poslen > 0)
		position[0] = '\0';
	/* strict base64url first: liboauth2's decoder aborts the process on "a=" */
	if (keys == NULL || !valid_kind(kind) || cursor == NULL ||
	    (clen = strnlen(cursor, JG_CURSOR_MAX_LEN)) >= JG_CURSOR_MAX_LEN ||
	    jg_b64url_decode(cursor, clen, raw, sizeof(raw), &rawlen) != 0 ||
	    rawlen < HEADER + JG_AEAD_OVERHEAD + 2 || raw[0] != VERSION)
		return JG_EINVAL;
	if ((key = jg_raw_keys_find(&keys->raw, raw[1] << 8 | raw[2])) == NULL)
		return JG_EINVAL;
	if (jg_aead_open(key->k, raw, HEADER, raw + HEADER, rawlen - HEADER, plain, sizeof(plain),
			 &n) != 0)
		goto out;
	/* authentic: now "kind\0position", the kind ours, the position text that fits */
	size_t klen = strlen(kind);
	size_t plen = n > klen + 1 ? n - klen - 1 : 0;
	if (plen == 0 || memcmp(plain, kind, klen) != 0 || plain[klen] != '\0' ||
	    memchr(plain + klen + 1, '\0', plen) != NULL || plen >= poslen)
		goto out;
	memcpy(position, plain + klen + 1, plen);
	position[plen] = '\0';
	rc = 0;
out:
	OPENSSL_cleanse(plain, sizeof(plain));
	return rc;
}
