/*
 * token_cache.c - verified capability tokens remembered by their SHA-256 (see token_cache.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "jitgate/sha256.h"
#include "jitgate/token_cache.h"

#define SHARDS 16

struct slot {
	int used;
	uint8_t key[32]; /* SHA-256 of the token */
	struct jg_token_claims claims;
};

struct jg_token_cache {
	pthread_mutex_t locks[SHARDS];
	struct slot slots[JG_TOKEN_CACHE_SLOTS];
};

struct jg_token_cache *
jg_token_cache_new(void)
{
	struct jg_token_cache *tc = calloc(1, sizeof(*tc));
	for (int i = 0; tc && i < SHARDS; i++)
		pthread_mutex_init(&tc->locks[i], NULL);
	return tc;
}

void
jg_token_cache_free(struct jg_token_cache *tc)
{
	if (tc == NULL)
		return;
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&tc->locks[i]);
	OPENSSL_cleanse(tc, sizeof(*tc));
	free(tc);
}

static size_t
slot_of(const uint8_t key[32])
{
	return ((size_t)key[0] | (size_t)key[1] << 8) % JG_TOKEN_CACHE_SLOTS;
}

static int
lookup(struct jg_token_cache *tc, const uint8_t key[32], struct jg_token_claims *c)
{
	size_t i = slot_of(key);
	pthread_mutex_t *lock = &tc->locks[i % SHARDS];
	int hit;

	pthread_mutex_lock(lock);
	hit = tc->slots[i].used && CRYPTO_memcmp(tc->slots[i].key, key, 32) == 0;
	if (hit)
		*c = tc->slots[i].claims;
	pthread_mutex_unlock(lock);
	return hit;
}

static void
remember(struct jg_token_cache *tc, const uint8_t key[32], const struct jg_token_claims *c)
{
	size_t i = slot_of(key);
	pthread_mutex_t *lock = &tc->locks[i % SHARDS];

	pthread_mutex_lock(lock);
	tc->slots[i].used = 1;
	memcpy(tc->slots[i].key, key, 32);
	tc->slots[i].claims = *c;
	pthread_mutex_unlock(lock);
}

int
jg_token_cache_signed(struct jg_token_cache *tc, const struct jg_token_keys *k, const char *token,
		      struct jg_token_claims *c, char *why, size_t whylen)
{
	uint8_t key[32];
	size_t len = strnlen(token, JG_TOKEN_MAX + 1);
	int rc;

	if (tc == NULL || len > JG_TOKEN_MAX)
		return jg_token_verify_signed(k, token, c, why, whylen);
	if (jg_sha256_2(token, len, NULL, 0, key) != 0)
		return jg_token_verify_signed(k, token, c, why, whylen);
	if (lookup(tc, key, c))
		return 0;
	if ((rc = jg_token_verify_signed(k, token, c, why, whylen)) == 0)
		remember(tc, key, c);
	return rc;
}

int
jg_token_verify_cached(struct jg_token_cache *tc, const struct jg_token_keys *k, const char *token,
		       const char *issuer, const char *service, int64_t now,
		       struct jg_token_claims *c, char *why, size_t whylen)
{
	int rc = jg_token_cache_signed(tc, k, token, c, why, whylen);
	if (rc == 0)
		rc = jg_token_check_claims(c, issuer, service, now, why, whylen);
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	return rc;
}
