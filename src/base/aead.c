/*
 * aead.c - AES-256-GCM seal and open with OpenSSL's EVP (see aead.h).
 *
 * One EVP_CIPHER_CTX per call: the nonce from jg_random_bytes, the AAD fed
 * before the text, the tag taken after the final (seal) or set before it
 * (open), so EVP_DecryptFinal_ex is the one place a forgery is refused.
 * GCM decrypts before it verifies: open writes the plaintext into the
 * caller's buffer first, and wipes it when the tag does not match.
 * OpenSSL counts lengths in int: anything that does not fit is refused.
 */
#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "jitgate/aead.h"
#include "jitgate/error.h"
#include "jitgate/random.h"

int
jg_aead_seal(const uint8_t key[JG_AEAD_KEY_BYTES], const uint8_t *aad, size_t alen,
	     const uint8_t *plain, size_t plen, uint8_t *out, size_t outcap, size_t *outlen)
{
	int len = 0, fin = 0, rc = JG_ECRYPTO;
	EVP_CIPHER_CTX *ctx = NULL;

	*outlen = 0;
	if (key == NULL || out == NULL || alen > INT_MAX || plen > INT_MAX - JG_AEAD_OVERHEAD ||
	    outcap < plen + JG_AEAD_OVERHEAD || (alen > 0 && aad == NULL) ||
	    (plen > 0 && plain == NULL))
		return JG_EINVAL;
	if (jg_random_bytes(out, JG_AEAD_NONCE) != 0 || (ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) != 1 ||
	    (alen > 0 && EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)alen) != 1) ||
	    (plen > 0 &&
	     EVP_EncryptUpdate(ctx, out + JG_AEAD_NONCE, &len, plain, (int)plen) != 1) ||
	    EVP_EncryptFinal_ex(ctx, out + JG_AEAD_NONCE + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, JG_AEAD_TAG,
				out + JG_AEAD_NONCE + plen) != 1)
		goto out;
	*outlen = plen + JG_AEAD_OVERHEAD;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
jg_aead_open(const uint8_t key[JG_AEAD_KEY_BYTES], const uint8_t *aad, size_t alen,
	     const uint8_t *sealed, size_t slen, uint8_t *plain, size_t plaincap, size_t *plen)
{
	uint8_t none[1] = {0}; /* where GCM's final (it writes nothing) points when plain is NULL */
	size_t n;
	int len = 0, fin = 0, rc = JG_ECRYPTO;
	EVP_CIPHER_CTX *ctx = NULL;

	*plen = 0;
	if (key == NULL || sealed == NULL || alen > INT_MAX || slen < JG_AEAD_OVERHEAD ||
	    slen - JG_AEAD_OVERHEAD > INT_MAX || (alen > 0 && aad == NULL))
		return JG_EINVAL;
	n = slen - JG_AEAD_OVERHEAD;
	if (plaincap < n || (n > 0 && plain == NULL))
		return JG_EINVAL;
	/* the tag's const-ness is OpenSSL's API, not a write */
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) != 1 ||
	    (alen > 0 && EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)alen) != 1) ||
	    (n > 0 && EVP_DecryptUpdate(ctx, plain, &len, sealed + JG_AEAD_NONCE, (int)n) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, JG_AEAD_TAG,
				(void *)(sealed + JG_AEAD_NONCE + n)) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain ? plain + len : none, &fin) != 1) {
		if (n > 0)
			OPENSSL_cleanse(plain, n);
		goto out;
	}
	*plen = n;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
