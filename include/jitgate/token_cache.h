/*
 * token_cache.h - verified capability tokens remembered by their SHA-256.
 *
 * An ES256 verification costs about 50 us; a guarded endpoint called with
 * the same token many times a second need not pay it each time.  The cache
 * holds only tokens whose signature and claim types verified (never a
 * failure, so garbage cannot fill it), keyed by the SHA-256 of the whole
 * token string.  A hit skips the signature only: iss, aud, nbf and exp are
 * checked against the current time on every call (jg_token_check_claims),
 * and the guard still re-reads the grant and re-checks the audit anchor, so
 * expiry and revocation take effect on the next call as before.
 *
 * Fixed size (no allocation after creation), direct-mapped: a token whose
 * slot is taken by another simply evicts it.  Thread-safe (sharded locks).
 */
#ifndef JITGATE_TOKEN_CACHE_H
#define JITGATE_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "jitgate/token.h"

#define JG_TOKEN_CACHE_SLOTS 1024

struct jg_token_cache;

struct jg_token_cache *jg_token_cache_new(void);
void jg_token_cache_free(struct jg_token_cache *tc);

/*
 * jg_token_verify_signed() (signature, header, claim types) with the work
 * skipped for a token verified before (tc may be NULL: no cache).  The
 * claims that depend on the caller and the clock are not checked here.
 */
int jg_token_cache_signed(struct jg_token_cache *tc, const struct jg_token_keys *k,
			  const char *token, struct jg_token_claims *c, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/*
 * jg_token_verify() with the signature check skipped for a token verified
 * before (tc may be NULL: no cache).  Same results and messages.
 */
int jg_token_verify_cached(struct jg_token_cache *tc, const struct jg_token_keys *k,
			   const char *token, const char *issuer, const char *service, int64_t now,
			   struct jg_token_claims *c, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
