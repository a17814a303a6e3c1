/*
 * cursor.c - sealed paging cursors with OpenSSL AES-256-GCM (see cursor.h).
 *
 * The ring copies each key's 32 bytes out of its EVP_PKEY once at load;
 * sealing and opening are one EVP_CIPHER_CTX each.  Opening checks the
 * text (strict base64url, codec.h) and the header before any decryption,
 * then the tag, then the kind: a cursor of another kind is refused only
 * after it authenticated, so the refusal says nothing a forger could use.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "jitgate/codec.h"
#include "jitgate/cursor.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "jitgate/random.h"

#define VERSION 1
#define HEADER	3 /* version, key number (big endian) */
#define NONCE	12
#define TAG	16
#define RAW_MAX (HEADER + NONCE + JG_CURSOR_KIND_MAX + 1 + JG_CURSOR_MAX_PLAIN + TAG)

_Static_assert(JG_B64URL_LEN(RAW_MAX) < JG_CURSOR_MAX_LEN, "a cursor must fit JG_CURSOR_MAX_LEN");

struct cursor_key {
	int number;
	uint8_t k[JG_KEY_CURSOR_BYTES];
};

struct jg_cursor_keys {
	int n;
	struct cursor_key keys[JG_KEYS_MAX]; /* oldest first; keys[n - 1] seals */
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
	struct jg_keyring *ring = NULL;
	struct jg_cursor_keys *keys = NULL;
	int rc;

	*out = NULL;
	if ((rc = jg_keys_load(key_dir, JG_KEY_CURSOR, &ring, err, errlen)) != 0)
		return rc;
	if ((keys = calloc(1, sizeof(*keys))) == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	for (int i = 0; i < ring->n; i++) {
		size_t len = JG_KEY_CURSOR_BYTES;
		/* the number travels in two bytes; keys.c numbers them 1..9999 */
		if (ring->keys[i].number > 0xffff ||
		    EVP_PKEY_get_raw_private_key(ring->keys[i].pkey, keys->keys[i].k, &len) != 1 ||
		    len != JG_KEY_CURSOR_BYTES) {
			snprintf(err, errlen, "%s: cursor key %04d cannot be used", key_dir,
				 ring->keys[i].number);
			rc = JG_ECRYPTO;
			goto out;
		}
		keys->keys[i].number = ring->keys[i].number;
		keys->n++;
	}
	*out = keys;
	keys = NULL; /* transferred */
out:
	jg_cursor_keys_free(keys);
	jg_keyring_free(ring);
	return rc;
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
	uint8_t raw[RAW_MAX], plain[JG_CURSOR_KIND_MAX + 1 + JG_CURSOR_MAX_PLAIN];
	size_t klen, plen, n;
	int len = 0, fin = 0, rc = JG_ECRYPTO;
	EVP_CIPHER_CTX *ctx = NULL;

	if (outlen > 0)
		out[0] = '\0';
	if (keys == NULL || keys->n == 0 || !valid_kind(kind) || position == NULL ||
	    (plen = strlen(position)) == 0 || plen > JG_CURSOR_MAX_PLAIN)
		return JG_EINVAL;
	const struct cursor_key *key = &keys->keys[keys->n - 1];
	klen = strlen(kind);
	memcpy(plain, kind, klen);
	plain[klen] = '\0';
	memcpy(plain + klen + 1, position, plen);
	n = klen + 1 + plen;
	raw[0] = VERSION;
	raw[1] = (uint8_t)(key->number >> 8);
	raw[2] = (uint8_t)key->number;
	if (jg_random_bytes(raw + HEADER, NONCE) != 0 || (ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->k, raw + HEADER) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, raw, HEADER) != 1 ||
	    EVP_EncryptUpdate(ctx, raw + HEADER + NONCE, &len, plain, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, raw + HEADER + NONCE + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, raw + HEADER + NONCE + n) != 1)
		goto out;
	rc = jg_b64url_encode(raw, HEADER + NONCE + n + TAG, out, outlen);
out:
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(plain, sizeof(plain));
	return rc;
}

int
jg_cursor_open(const struct jg_cursor_keys *keys, const char *kind, const char *cursor,
	       char *position, size_t poslen)
{
	uint8_t raw[RAW_MAX], plain[JG_CURSOR_KIND_MAX + 1 + JG_CURSOR_MAX_PLAIN];
	const struct cursor_key *key = NULL;
	size_t rawlen = 0, n, clen;
	int len = 0, fin = 0, rc = JG_EINVAL;
	EVP_CIPHER_CTX *ctx = NULL;

	if (poslen > 0)
		position[0] = '\0';
	/* strict base64url first: liboauth2's decoder aborts the process on "a=" */
	if (keys == NULL || !valid_kind(kind) || cursor == NULL ||
	    (clen = strnlen(cursor, JG_CURSOR_MAX_LEN)) >= JG_CURSOR_MAX_LEN ||
	    jg_b64url_decode(cursor, clen, raw, sizeof(raw), &rawlen) != 0 ||
	    rawlen < HEADER + NONCE + 2 + TAG || raw[0] != VERSION)
		return JG_EINVAL;
	int number = raw[1] << 8 | raw[2];
	for (int i = 0; i < keys->n; i++)
		if (keys->keys[i].number == number)
			key = &keys->keys[i];
	if (key == NULL)
		return JG_EINVAL;
	n = rawlen - HEADER - NONCE - TAG;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->k, raw + HEADER) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len, raw, HEADER) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &len, raw + HEADER + NONCE, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG, raw + HEADER + NONCE + n) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + len, &fin) != 1)
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
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(plain, sizeof(plain));
	return rc;
}
