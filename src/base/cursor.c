/*
 * cursor.c - sealed paging cursors with OpenSSL AES-256-GCM (see cursor.h).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "jitgate/codec.h"
#include "jitgate/cursor.h"
#include "jitgate/error.h"

#define NONCE 12
#define TAG   16

int
jg_cursor_key_new(uint8_t key[JG_CURSOR_KEY_BYTES])
{
	return RAND_bytes(key, JG_CURSOR_KEY_BYTES) == 1 ? 0 : JG_ECRYPTO;
}

int
jg_cursor_seal(const uint8_t key[JG_CURSOR_KEY_BYTES], const char *plain, char *out, size_t outlen)
{
	size_t n = strlen(plain);
	uint8_t buf[NONCE + JG_CURSOR_MAX_PLAIN + TAG];
	int len = 0, fin = 0, rc = JG_ECRYPTO;

	if (n == 0 || n > JG_CURSOR_MAX_PLAIN)
		return JG_EINVAL;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || RAND_bytes(buf, NONCE) != 1 ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) != 1 ||
	    EVP_EncryptUpdate(ctx, buf + NONCE, &len, (const uint8_t *)plain, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, buf + NONCE + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, buf + NONCE + n) != 1)
		goto out;
	rc = jg_b64url_encode(buf, NONCE + n + TAG, out,
			      outlen < JG_CURSOR_MAX_LEN ? outlen : JG_CURSOR_MAX_LEN);
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
jg_cursor_open(const uint8_t key[JG_CURSOR_KEY_BYTES], const char *cursor, char *plain,
	       size_t plainlen)
{
	uint8_t raw[NONCE + JG_CURSOR_MAX_PLAIN + TAG];
	size_t rawlen = 0;
	int len = 0, fin = 0, rc = JG_EINVAL;

	plain[0] = '\0';
	/* strict base64url first: liboauth2's decoder aborts the process on "a=" */
	if (cursor == NULL || strlen(cursor) >= JG_CURSOR_MAX_LEN ||
	    jg_b64url_decode(cursor, strlen(cursor), raw, sizeof(raw), &rawlen) != 0)
		return JG_EINVAL;
	size_t n = rawlen > NONCE + TAG ? rawlen - NONCE - TAG : 0;
	EVP_CIPHER_CTX *ctx = NULL;
	if (n == 0 || n > JG_CURSOR_MAX_PLAIN || n >= plainlen)
		goto out;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
	    EVP_DecryptUpdate(ctx, (uint8_t *)plain, &len, raw + NONCE, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG, raw + NONCE + n) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (uint8_t *)plain + len, &fin) != 1) {
		OPENSSL_cleanse(plain, plainlen);
		plain[0] = '\0';
		goto out;
	}
	plain[n] = '\0';
	rc = strlen(plain) == n ? 0 : JG_EINVAL;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
