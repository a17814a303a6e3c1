/*
 * sha256.c - SHA-256 with the algorithm fetched once (see sha256.h).
 */
#include <pthread.h>
#include <stdbool.h>

#include <openssl/evp.h>

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

/* This thread's digest context, created on first use; NULL on failure. */
static EVP_MD_CTX *
thread_ctx(void)
{
	EVP_MD_CTX *ctx;

	if (pthread_once(&hash_once, hash_setup) != 0 || sha256_md == NULL || !ctx_key_ok)
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
jg_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
	EVP_MD_CTX *ctx = thread_ctx();
	unsigned int olen;

	if (ctx == NULL || !EVP_DigestInit_ex2(ctx, sha256_md, NULL) ||
	    (alen > 0 && !EVP_DigestUpdate(ctx, a, alen)) ||
	    (blen > 0 && !EVP_DigestUpdate(ctx, b, blen)) || !EVP_DigestFinal_ex(ctx, out, &olen))
		return JG_ECRYPTO;
	return 0;
}
