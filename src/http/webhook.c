/*
 * webhook.c - the HMAC-SHA256 signature of an outbound webhook delivery
 * (see webhook.h).  The timestamp is part of the signed text, so a
 * captured delivery cannot be replayed under another time.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/webhook.h"

#define SIG_PREFIX "sha256="
#define PREFIX_LEN (sizeof(SIG_PREFIX) - 1)

int
jg_webhook_sign(const void *key, size_t keylen, int64_t ts, const char *body, size_t len,
		char out[JG_WEBHOOK_SIG_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			       OSSL_PARAM_construct_end()};
	unsigned char md[32];
	char prefix[32];
	size_t mdlen = 0;
	int rc = JG_ECRYPTO;

	int n = snprintf(prefix, sizeof(prefix), "%lld.", (long long)ts);
	if (ctx == NULL || !EVP_MAC_init(ctx, key, keylen, params) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)n) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)body, len) ||
	    !EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) || mdlen != sizeof(md))
		goto out;
	/* the prefix with its NUL (out is a string at every step), the hex after it */
	memcpy(out, SIG_PREFIX, sizeof(SIG_PREFIX));
	rc = jg_hex_encode(md, sizeof(md), out + PREFIX_LEN, JG_WEBHOOK_SIG_LEN - PREFIX_LEN);
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}
