/*
 * sha256.c - SHA-256 with the algorithm fetched once (see sha256.h).
 */
#include <pthread.h>
#include <stdbool.h>

#include <openssl/evp.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/sha256.h"

static pthread_once_t hash_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md; /* fetched once, kept for the life of the process */
static pthread_key_t ctx_key;
static bool ctx_key_ok;

static void
free_thread_ctx(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void
hash_setup(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	ctx_key_ok = pthread_key_create(&ctx_key, free_thread_ctx) == 0;
}

static bool
ready(void)
{
	return pthread_once(&hash_once, hash_setup) == 0 && sha256_md != NULL;
}

/* This thread's digest context, created on first use; NULL on failure. */
static EVP_MD_CTX *
thread_ctx(void)
{
	EVP_MD_CTX *ctx;

	if (!ready() || !ctx_key_ok)
		return NULL;
	if ((ctx = pthread_getspecific(ctx_key)) != NULL)
		return ctx;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (pthread_setspecific(ctx_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
jg_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[JG_SHA256_LEN])
{
	EVP_MD_CTX *ctx = thread_ctx();
	unsigned int olen = 0;

	if (ctx == NULL || !EVP_DigestInit_ex2(ctx, sha256_md, NULL) ||
	    (alen > 0 && !EVP_DigestUpdate(ctx, a, alen)) ||
	    (blen > 0 && !EVP_DigestUpdate(ctx, b, blen)) || !EVP_DigestFinal_ex(ctx, out, &olen) ||
	    olen != JG_SHA256_LEN)
		return JG_ECRYPTO;
	return 0;
}

int
jg_sha256(const void *in, size_t n, uint8_t out[JG_SHA256_LEN])
{
	return jg_sha256_2(in, n, NULL, 0, out);
}

int
jg_sha256_hex(const void *in, size_t n, char out[2 * JG_SHA256_LEN + 1])
{
	uint8_t md[JG_SHA256_LEN];
	int rc;

	out[0] = '\0';
	if ((rc = jg_sha256(in, n, md)) != 0)
		return rc;
	return jg_hex_encode(md, sizeof(md), out, 2 * JG_SHA256_LEN + 1);
}

int
jg_sha256_init(struct jg_sha256_ctx *c)
{
	EVP_MD_CTX *md = NULL;

	c->md = NULL;
	c->failed = 0;
	if (!ready() || (md = EVP_MD_CTX_new()) == NULL)
		return JG_ECRYPTO;
	if (!EVP_DigestInit_ex2(md, sha256_md, NULL)) {
		EVP_MD_CTX_free(md);
		return JG_ECRYPTO;
	}
	c->md = md;
	return 0;
}

int
jg_sha256_update(struct jg_sha256_ctx *c, const void *in, size_t n)
{
	if (c->md == NULL || c->failed || (n > 0 && !EVP_DigestUpdate(c->md, in, n))) {
		c->failed = 1;
		return JG_ECRYPTO;
	}
	return 0;
}

int
jg_sha256_final(struct jg_sha256_ctx *c, uint8_t out[JG_SHA256_LEN])
{
	unsigned int olen = 0;
	int rc = c->md != NULL && !c->failed && EVP_DigestFinal_ex(c->md, out, &olen) &&
			 olen == JG_SHA256_LEN
		     ? 0
		     : JG_ECRYPTO;
	jg_sha256_abort(c);
	return rc;
}

void
jg_sha256_abort(struct jg_sha256_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
	c->failed = 0;
}
