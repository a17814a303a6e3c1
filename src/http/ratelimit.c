/*
 * ratelimit.c - token buckets in a fixed, set-associative table (see ratelimit.h).
 *
 * Tokens are kept in units of 1/60000 (integers, so the arithmetic is exact
 * and the same on every machine): a token is 60000 units, a bucket of burst
 * b holds at most b * 60000, and each elapsed millisecond adds per_minute
 * units - no rounding, however often a bucket is touched.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/random.h"
#include "jitgate/ratelimit.h"
#include "jitgate/sha256.h"

#define UNIT 60000 /* one token; a bucket gains per_minute units a millisecond */

struct entry {
	uint8_t id[16]; /* the first 16 bytes of SHA-256(seed || key) */
	int64_t units;	/* tokens, in 1/60000 */
	int64_t last_ms;
	bool used;
};

struct jg_ratelimit {
	pthread_mutex_t lock;
	uint8_t seed[32];
	uint32_t per_minute;
	int64_t burst_units;
	size_t nsets;
	size_t used;
	struct entry *e; /* nsets * JG_RATELIMIT_WAYS */
};

struct jg_ratelimit *
jg_ratelimit_new(size_t capacity, uint32_t per_minute, uint32_t burst)
{
	struct jg_ratelimit *rl;

	if (capacity == 0 || burst == 0)
		return NULL;
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	rl->nsets = (capacity + JG_RATELIMIT_WAYS - 1) / JG_RATELIMIT_WAYS;
	rl->per_minute = per_minute;
	rl->burst_units = (int64_t)burst * UNIT;
	rl->e = calloc(rl->nsets * JG_RATELIMIT_WAYS, sizeof(*rl->e));
	if (rl->e == NULL || jg_random_bytes(rl->seed, sizeof(rl->seed)) != 0) {
		free(rl->e);
		free(rl);
		return NULL;
	}
	pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void
jg_ratelimit_free(struct jg_ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->e);
	free(rl);
}

size_t
jg_ratelimit_capacity(const struct jg_ratelimit *rl)
{
	return rl->nsets * JG_RATELIMIT_WAYS;
}

size_t
jg_ratelimit_entries(struct jg_ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	size_t n = rl->used;
	pthread_mutex_unlock(&rl->lock);
	return n;
}

/* The key's id and set.  Keyed, so which keys share a set cannot be known outside. */
static int
locate(const struct jg_ratelimit *rl, const char *key, uint8_t id[16], size_t *set)
{
	uint8_t md[32];
	if (jg_sha256_2(rl->seed, sizeof(rl->seed), key, strlen(key), md) != 0)
		return -1;
	memcpy(id, md, 16);
	uint64_t h = 0;
	for (int i = 16; i < 24; i++)
		h = h << 8 | md[i];
	*set = (size_t)(h % rl->nsets);
	return 0;
}

/* The tokens of e at now_ms, refilled (time never runs backwards for a bucket). */
static int64_t
refilled(const struct jg_ratelimit *rl, const struct entry *e, int64_t now_ms)
{
	int64_t elapsed = now_ms > e->last_ms ? now_ms - e->last_ms : 0;
	if (rl->per_minute == 0) /* a count that never refills */
		return e->units;
	/* capped first, so the product cannot overflow after a long idle time */
	if (elapsed > rl->burst_units / rl->per_minute)
		return rl->burst_units;
	int64_t m = e->units + elapsed * rl->per_minute;
	return m < rl->burst_units ? m : rl->burst_units;
}

/* Whole seconds until a bucket holding units has a full token: at least 1. */
static int
wait_seconds(const struct jg_ratelimit *rl, int64_t units)
{
	if (rl->per_minute == 0)
		return 86400;
	int64_t ms = (UNIT - units + rl->per_minute - 1) / rl->per_minute;
	int64_t s = (ms + 999) / 1000;
	return s < 1 ? 1 : s > 86400 ? 86400 : (int)s;
}

static struct entry *
find(struct jg_ratelimit *rl, const uint8_t id[16], size_t set)
{
	struct entry *ways = &rl->e[set * JG_RATELIMIT_WAYS];
	for (int i = 0; i < JG_RATELIMIT_WAYS; i++)
		if (ways[i].used && memcmp(ways[i].id, id, 16) == 0)
			return &ways[i];
	return NULL;
}

/* A free way of the set, or the one whose loss forgives the least (the most tokens). */
static struct entry *
victim(struct jg_ratelimit *rl, size_t set, int64_t now_ms)
{
	struct entry *ways = &rl->e[set * JG_RATELIMIT_WAYS], *best = NULL;
	int64_t best_units = 0;
	for (int i = 0; i < JG_RATELIMIT_WAYS; i++) {
		if (!ways[i].used)
			return &ways[i];
		int64_t m = refilled(rl, &ways[i], now_ms);
		if (best == NULL || m > best_units ||
		    (m == best_units && ways[i].last_ms < best->last_ms)) {
			best = &ways[i];
			best_units = m;
		}
	}
	return best;
}

bool
jg_ratelimit_take(struct jg_ratelimit *rl, const char *key, int64_t now_ms, int *retry_after)
{
	uint8_t id[16];
	size_t set;
	bool ok;

	if (retry_after)
		*retry_after = 0;
	if (locate(rl, key, id, &set) != 0)
		return false; /* fail closed: no digest, no pass */
	pthread_mutex_lock(&rl->lock);
	struct entry *e = find(rl, id, set);
	if (e == NULL) {
		e = victim(rl, set, now_ms);
		if (!e->used)
			rl->used++;
		*e = (struct entry){.units = rl->burst_units, .last_ms = now_ms, .used = true};
		memcpy(e->id, id, 16);
	}
	int64_t m = refilled(rl, e, now_ms);
	ok = m >= UNIT;
	e->units = ok ? m - UNIT : m;
	if (now_ms > e->last_ms)
		e->last_ms = now_ms;
	if (!ok && retry_after)
		*retry_after = wait_seconds(rl, m);
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
