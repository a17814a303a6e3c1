/*
 * ratelimit.h - token buckets per key in a fixed-size table.
 *
 * A bucket holds up to `burst` tokens and refills at `per_minute` / 60
 * tokens a second.  Taking a token when none is left is refused with the
 * seconds until one is back (the Retry-After of a 429).  A table made with
 * per_minute 0 never refills: each key may take `burst` tokens, ever (a
 * count with a cap, as long as the key keeps its entry).
 *
 * The table never grows: it has `capacity` entries allocated once, in sets
 * of JG_RATELIMIT_WAYS, and a key (a client address, "user:<sub>") lands
 * in one set by a keyed SHA-256 (a random seed per table, so a client
 * cannot aim many keys at one set).  A key is stored as 16 bytes of that
 * digest, never as text.  When a set is full the entry evicted is the one
 * with the most tokens after refilling, the one whose loss forgives the
 * least: a full bucket is the same as no entry at all, and a drained one
 * (a client being limited) is the last to go, so a flood of new addresses
 * cannot reset the limit of the client that floods.
 *
 * Thread-safe (one mutex per table).  Time is passed in, in milliseconds of
 * a monotonic clock, so tests need no sleeping.
 */
#ifndef JITGATE_RATELIMIT_H
#define JITGATE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JG_RATELIMIT_WAYS 8

struct jg_ratelimit;

/*
 * A table of capacity entries (rounded up to a multiple of
 * JG_RATELIMIT_WAYS, at least one set), each bucket refilling per_minute
 * tokens a minute (0: never) up to burst.  NULL when out of memory or
 * capacity or burst is zero.  Freed with jg_ratelimit_free().
 */
struct jg_ratelimit *jg_ratelimit_new(size_t capacity, uint32_t per_minute, uint32_t burst);
void jg_ratelimit_free(struct jg_ratelimit *rl);

/*
 * Takes one token from key's bucket at now_ms (a new key starts full).
 * Returns true when a token was taken; false when the bucket is empty, with
 * *retry_after (if not NULL) set to the whole seconds until a token is back
 * (at least 1; 86400 when the table never refills).
 */
bool jg_ratelimit_take(struct jg_ratelimit *rl, const char *key, int64_t now_ms, int *retry_after);

/* Entries in use (for tests and metrics); never above the capacity. */
size_t jg_ratelimit_entries(struct jg_ratelimit *rl);
/* The capacity after rounding. */
size_t jg_ratelimit_capacity(const struct jg_ratelimit *rl);

#endif
